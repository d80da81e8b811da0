import { type Kysely, sql } from 'kysely'

// Busy caps without a busy row. A cap of 10,000 or more per window (the overall and per-country
// send caps of a large deployment, or the per-address caps behind a carrier NAT) sees many
// requests at once; counted on one row, every code request would wait for the one before it to
// commit. Such a cap is counted over up to 64 rows instead, one per database connection, and
// checked against their sum: it can pass its limit by at most the requests in flight at that
// instant, which is nothing at that size. Smaller caps stay exact, on one row each, as before.
//
// The step functions are redefined to do less per call: the exact send caps are one conditional
// upsert together (taken back only on the rare refusal), the spread ones one read and one write
// together, the failure budget of a number is read under the number's lock instead of a row lock
// and written only on a failure, and what a step writes at its end (code, audit row and spread
// counts; user, session, event and audit row) is one statement.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rate_counter_shards')
    .addColumn('key', 'text', (col) => col.notNull())
    .addColumn('window_start', 'timestamptz', (col) => col.notNull())
    .addColumn('shard', 'smallint', (col) => col.notNull())
    .addColumn('count', 'integer', (col) => col.notNull())
    .addPrimaryKeyConstraint('rate_counter_shards_pkey', ['key', 'window_start', 'shard'])
    .execute()
  // Only pruning reads counters by window, once an hour: a BRIN index (a few bytes per range of
  // pages, rows arrive in window order) serves it, where the B-tree of 0003 cost every new counter
  // row of every code request an index insert.
  await sql`drop index rate_counters_window_start_idx`.execute(db)
  await sql`create index rate_counters_window_start_brin on rate_counters using brin (window_start)`.execute(db)

  // Whether a cap is spread: one rule for every statement below (inlined where it is used).
  await sql`
    create function nomisafe_spread(p_limit integer) returns boolean
    language sql immutable as $fn$ select p_limit >= 10000 $fn$
  `.execute(db)

  // One hit on a cap that counts every call (the client-address caps); true when it is now over.
  // A spread cap is counted on the row of this database connection (its backend's pid picks it):
  // a connection runs one transaction at a time, so two hits never wait for each other's row, and
  // the sum reads only as many rows as connections counted. The sum is read in the same
  // statement, from before this hit, so the hit is added to it.
  await sql`
    create function nomisafe_hit(p_key text, p_window timestamptz, p_limit integer) returns boolean
    language plpgsql as $fn$
    declare
      v_count bigint;
    begin
      if p_limit <= 0 then
        return false;
      end if;
      if nomisafe_spread(p_limit) then
        with added as (
          insert into rate_counter_shards as s (key, window_start, shard, count)
            values (p_key, p_window, pg_backend_pid() % 64, 1)
            on conflict (key, window_start, shard) do update set count = s.count + 1
        )
        select coalesce(sum(s.count), 0) + 1 into v_count from rate_counter_shards s where s.key = p_key and s.window_start = p_window;
      else
        insert into rate_counters as rc (key, window_start, count) values (p_key, p_window, 1)
          on conflict (key, window_start) do update set count = rc.count + 1
          returning rc.count into v_count;
      end if;
      return v_count > p_limit;
    end
    $fn$
  `.execute(db)

  // p_keys come sorted by key (flows.ts), so concurrent calls lock the rows they share in one order.
  await sql`
    create or replace function nomisafe_request_code(
      p_phone text, p_code_hash text, p_now timestamptz, p_expires_at timestamptz, p_cooldown_seconds integer,
      p_ip_key text, p_ip_window timestamptz, p_ip_limit integer,
      p_keys text[], p_windows timestamptz[], p_limits integer[],
      p_phone_masked text, p_ip text, p_request_id text, p_audit_detail text
    ) returns table (outcome text, limit_key text, limit_window timestamptz, last_sent_at timestamptz)
    language plpgsql as $fn$
    declare
      v_last timestamptz;
      v_key text;
      v_window timestamptz;
      v_exact integer;
      v_counted text[];
    begin
      -- Every request from an address counts, whatever happens next.
      if nomisafe_hit(p_ip_key, p_ip_window, p_ip_limit) then
        return query select 'limited'::text, p_ip_key, p_ip_window, null::timestamptz;
        return;
      end if;

      -- Requests for one number take turns, so the cooldown read below is exact.
      perform pg_advisory_xact_lock(hashtext('nomisafe.otp:' || p_phone));
      select o.created_at into v_last from otp_codes o where o.phone_number = p_phone;
      if v_last is not null and v_last > p_now - make_interval(secs => p_cooldown_seconds) then
        return query select 'cooldown'::text, null::text, null::timestamptz, v_last;
        return;
      end if;

      -- The send caps. A spread one is checked against its sum here and counted at the end.
      select t.k, t.w into v_key, v_window from unnest(p_keys, p_windows, p_limits) as t(k, w, l)
        where nomisafe_spread(t.l)
          and (select coalesce(sum(s.count), 0) from rate_counter_shards s where s.key = t.k and s.window_start = t.w) >= t.l
        order by t.k limit 1;
      if found then
        return query select 'limited'::text, v_key, v_window, null::timestamptz;
        return;
      end if;
      -- An exact one is counted only while it has room; when one has none, the others are taken back.
      select count(*) into v_exact from unnest(p_limits) as t(l) where not nomisafe_spread(t.l);
      if v_exact > 0 then
        with counted as (
          insert into rate_counters as rc (key, window_start, count)
            select t.k, t.w, 1 from unnest(p_keys, p_windows, p_limits) as t(k, w, l) where not nomisafe_spread(t.l) order by t.k
            on conflict (key, window_start) do update set count = rc.count + 1
              where rc.count < (select t.l from unnest(p_keys, p_limits) as t(k, l) where t.k = rc.key)
            returning rc.key
        )
        select array_agg(key) into v_counted from counted;
        if coalesce(array_length(v_counted, 1), 0) < v_exact then
          update rate_counters rc set count = rc.count - 1
            from unnest(p_keys, p_windows) as t(k, w)
            where t.k = any(v_counted) and rc.key = t.k and rc.window_start = t.w;
          select t.k, t.w into v_key, v_window from unnest(p_keys, p_windows, p_limits) as t(k, w, l)
            where not nomisafe_spread(t.l) and not (t.k = any(coalesce(v_counted, '{}'))) order by t.k limit 1;
          return query select 'limited'::text, v_key, v_window, null::timestamptz;
          return;
        end if;
      end if;

      -- A new code replaces the older one; its audit row, and the spread send caps, in the same statement.
      with code as (
        insert into otp_codes as o (phone_number, code_hash, created_at, expires_at, attempts, used_at)
          values (p_phone, p_code_hash, p_now, p_expires_at, 0, null)
          on conflict (phone_number) do update
            set code_hash = excluded.code_hash, created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0, used_at = null
      ), audit as (
        insert into audit_events (at, type, phone_masked, ip, request_id, detail)
          values (p_now, 'code_sent', p_phone_masked, p_ip, p_request_id, p_audit_detail)
      )
      insert into rate_counter_shards as s (key, window_start, shard, count)
        select t.k, t.w, pg_backend_pid() % 64, 1 from unnest(p_keys, p_windows, p_limits) as t(k, w, l) where nomisafe_spread(t.l) order by t.k
        on conflict (key, window_start, shard) do update set count = s.count + 1;
      return query select 'issued'::text, null::text, null::timestamptz, null::timestamptz;
    end
    $fn$
  `.execute(db)

  await sql`
    drop function nomisafe_withdraw_code(text, text, text[], timestamptz[], timestamptz, text, text, text, text)
  `.execute(db)
  await sql`
    create function nomisafe_withdraw_code(
      p_phone text, p_code_hash text, p_keys text[], p_windows timestamptz[], p_limits integer[],
      p_now timestamptz, p_phone_masked text, p_ip text, p_request_id text, p_audit_detail text
    ) returns void
    language plpgsql as $fn$
    begin
      -- A code that never reached the phone neither works, nor holds the cooldown, nor counts as sent.
      perform pg_advisory_xact_lock(hashtext('nomisafe.otp:' || p_phone));
      delete from otp_codes where phone_number = p_phone and code_hash = p_code_hash;
      update rate_counters rc set count = greatest(rc.count - 1, 0)
        from unnest(p_keys, p_windows, p_limits) as t(k, w, l)
        where not nomisafe_spread(t.l) and rc.key = t.k and rc.window_start = t.w;
      insert into rate_counter_shards as s (key, window_start, shard, count)
        select t.k, t.w, pg_backend_pid() % 64, -1 from unnest(p_keys, p_windows, p_limits) as t(k, w, l) where nomisafe_spread(t.l) order by t.k
        on conflict (key, window_start, shard) do update set count = s.count - 1;
      insert into audit_events (at, type, phone_masked, ip, request_id, detail)
        values (p_now, 'sms_failed', p_phone_masked, p_ip, p_request_id, p_audit_detail);
    end
    $fn$
  `.execute(db)

  await sql`
    create or replace function nomisafe_sign_in(
      p_phone text, p_code_hash text, p_now timestamptz, p_max_attempts integer,
      p_ip_key text, p_ip_window timestamptz, p_ip_limit integer,
      p_fail_key text, p_fail_window timestamptz, p_fail_limit integer,
      p_session_id uuid, p_refresh_jti_hash text, p_session_expires_at timestamptz,
      p_event_id text, p_event_give_up_at timestamptz,
      p_phone_masked text, p_ip text, p_request_id text
    ) returns table (outcome text, user_id bigint, created boolean, sent_at timestamptz, limit_key text, limit_window timestamptz)
    language plpgsql as $fn$
    declare
      v_outcome text := 'signed_in';
      v_limit_key text;
      v_limit_window timestamptz;
      v_count integer;
      v_used timestamptz;
      v_attempts integer;
      v_sent timestamptz;
      v_user bigint;
      v_disabled timestamptz;
      v_created boolean;
    begin
      <<steps>>
      begin
        if nomisafe_hit(p_ip_key, p_ip_window, p_ip_limit) then
          v_outcome := 'limited'; v_limit_key := p_ip_key; v_limit_window := p_ip_window;
          exit steps;
        end if;

        -- Verifies of one number take turns (as its code requests do), so the failure budget read
        -- here is exact: racing guesses can't overshoot it.
        perform pg_advisory_xact_lock(hashtext('nomisafe.otp:' || p_phone));
        if p_fail_limit > 0 then
          select rc.count into v_count from rate_counters rc where rc.key = p_fail_key and rc.window_start = p_fail_window;
          if v_count >= p_fail_limit then
            v_outcome := 'limited'; v_limit_key := p_fail_key; v_limit_window := p_fail_window;
            exit steps;
          end if;
        end if;

        -- Count the attempt and use the code in one statement: two racing verifies can't both win.
        update otp_codes o set attempts = o.attempts + 1,
            used_at = case when o.code_hash = p_code_hash then p_now else null end
          where o.phone_number = p_phone and o.used_at is null and o.expires_at > p_now and o.attempts < p_max_attempts
          returning o.used_at, o.attempts, o.created_at into v_used, v_attempts, v_sent;

        if v_used is null then
          if p_fail_limit > 0 then
            insert into rate_counters as rc (key, window_start, count) values (p_fail_key, p_fail_window, 1)
              on conflict (key, window_start) do update set count = rc.count + 1;
          end if;
          if v_attempts is null then
            -- No attempt was counted: no live code, or one whose budget an earlier guess spent.
            select o.created_at into v_sent from otp_codes o
              where o.phone_number = p_phone and o.used_at is null and o.expires_at > p_now and o.attempts >= p_max_attempts;
          elsif v_attempts < p_max_attempts then
            v_sent := null;
          end if;
          insert into audit_events (at, type, phone_masked, ip, request_id, detail)
            values (p_now, 'verify_failed', p_phone_masked, p_ip, p_request_id,
                    case when v_sent is null then '{}' else '{"reason":"attempts spent"}' end);
          v_outcome := case when v_sent is null then 'wrong' else 'exhausted' end;
          exit steps;
        end if;
        v_sent := null;

        -- One user per number, created race-safe (xmax is 0 only on a row this statement inserted),
        -- with its session, its user.created event and the audit row, in one statement. A disabled
        -- user gets neither session nor event, and its audit row says why it was refused.
        with u as (
          insert into users as u (phone_number, created_at, last_login_at) values (p_phone, p_now, p_now)
            on conflict (phone_number) do update
              set last_login_at = case when u.disabled_at is null then excluded.last_login_at else u.last_login_at end
            returning u.id, u.disabled_at, (u.xmax = 0) as created
        ), session as (
          insert into sessions (id, user_id, refresh_jti_hash, created_at, expires_at)
            select p_session_id, u.id, p_refresh_jti_hash, p_now, p_session_expires_at from u where u.disabled_at is null
        ), event as (
          -- Byte for byte what the outbox writes from the application: the payload that is signed.
          insert into events (id, type, payload, created_at, next_attempt_at, give_up_at)
            select p_event_id, 'user.created',
                   '{"type":"user.created","timestamp":"' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                     || '","data":{"id":' || u.id || ',"phone_number":' || to_json(p_phone)::text || '}}',
                   p_now, p_now, p_event_give_up_at
              from u where p_event_id is not null and u.created and u.disabled_at is null
        ), audit as (
          insert into audit_events (at, type, user_id, phone_masked, ip, request_id, detail)
            select p_now, case when u.disabled_at is null then 'signed_in' else 'verify_failed' end, u.id, p_phone_masked, p_ip, p_request_id,
                   case when u.disabled_at is null then json_build_object('created', u.created, 'session_id', p_session_id)::text
                        else '{"reason":"account disabled"}' end
              from u
        )
        select u.id, u.disabled_at, u.created into v_user, v_disabled, v_created from u;
        if v_disabled is not null then
          v_outcome := 'disabled'; v_created := false;
        end if;
      end;

      return query select v_outcome, v_user, v_created, v_sent, v_limit_key, v_limit_window;
    end
    $fn$
  `.execute(db)
}
