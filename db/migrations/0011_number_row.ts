import { type Kysely, sql } from 'kysely'

// A number's own limits live on its code row: the hour and day send caps and the failure budget are
// columns of otp_codes instead of three rate_counters rows. A code request then writes one row for
// the number (its code, its cooldown and its counts) where it wrote three, and checks the cooldown
// and both caps in the statement that writes the code, under that row's lock; a verify checks and
// counts the budget in the update that counts the attempt. Neither step takes the number's advisory
// lock any more: the row's lock makes each of them exact (bench/RESULTS.md, session 7).
//
// A withdrawn code (the SMS provider refused it) leaves the row without a code, no longer deleted:
// code_hash, created_at and expires_at become null, so it neither works nor holds the cooldown, and
// its counts stay. The counts of the windows in progress are carried over from rate_counters, and
// the previous signatures of the code request and the withdrawal stay, as wrappers (below).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table otp_codes
      alter column code_hash drop not null,
      alter column created_at drop not null,
      alter column expires_at drop not null,
      add column sends_hour_start timestamptz,
      add column sends_hour integer not null default 0,
      add column sends_day_start timestamptz,
      add column sends_day integer not null default 0,
      add column fails_start timestamptz,
      add column fails integer not null default 0
  `.execute(db)

  // The latest window of each number's counters, onto its row (a row is made for a number that has
  // counts and no code, so a failure budget outlives the upgrade too).
  for (const [prefix, suffix, startCol, countCol] of [
    ['send:number:', ':3600', 'sends_hour_start', 'sends_hour'],
    ['send:number:', ':86400', 'sends_day_start', 'sends_day'],
    ['verify-failed:number:', ':3600', 'fails_start', 'fails'],
  ] as const) {
    await sql`
      insert into otp_codes as o (phone_number, ${sql.ref(startCol)}, ${sql.ref(countCol)})
        select distinct on (rc.key) substr(rc.key, ${prefix.length + 1}, length(rc.key) - ${prefix.length + suffix.length}), rc.window_start, rc.count
          from rate_counters rc
          where rc.key like ${`${prefix}%${suffix}`}
          order by rc.key, rc.window_start desc
      on conflict (phone_number) do update set ${sql.ref(startCol)} = excluded.${sql.ref(startCol)}, ${sql.ref(countCol)} = excluded.${sql.ref(countCol)}
    `.execute(db)
    await sql`delete from rate_counters where key like ${`${prefix}%${suffix}`}`.execute(db)
  }

  await sql`
    create function nomisafe_request_code(
      p_phone text, p_code_hash text, p_now timestamptz, p_expires_at timestamptz, p_cooldown_seconds integer,
      p_ip_key text, p_ip_window timestamptz, p_ip_limit integer,
      p_keys text[], p_windows timestamptz[], p_limits integer[],
      p_hour_key text, p_hour_window timestamptz, p_hour_limit integer,
      p_day_key text, p_day_window timestamptz, p_day_limit integer,
      p_phone_masked text, p_ip text, p_request_id text, p_audit_detail text
    ) returns table (outcome text, limit_key text, limit_window timestamptz, last_sent_at timestamptz)
    language plpgsql set enable_seqscan = off as $fn$
    declare
      v_shard smallint := pg_backend_pid() % 64;
      v_counted_here boolean := false;
      v_last timestamptz;
      v_exact integer := 0;
      v_counted text[];
      v_ok boolean;
      v_issued boolean;
      v_taken_keys text[] := '{}';
      v_taken_windows timestamptz[] := '{}';
      v_row otp_codes;
    begin
      -- Every request from an address counts, whatever happens next (as in 0010).
      if nomisafe_spread(p_ip_limit) then
        update rate_counter_shards s set count = s.count + 1
          where s.key = p_ip_key and s.window_start = p_ip_window and s.shard = v_shard and s.count < s.granted and s.granted_for = p_ip_limit;
        v_counted_here := found;
      end if;
      if not v_counted_here then
        if nomisafe_hit(p_ip_key, p_ip_window, p_ip_limit) then
          outcome := 'limited'; limit_key := p_ip_key; limit_window := p_ip_window; return next;
          return;
        end if;
      end if;

      -- The cooldown comes before the send caps, so a refused resend costs them nothing. Read without
      -- a lock; the write below checks it again under the row's.
      select o.created_at into v_last from otp_codes o where o.phone_number = p_phone;
      if v_last is not null and v_last > p_now - make_interval(secs => p_cooldown_seconds) then
        outcome := 'cooldown'; last_sent_at := v_last; return next;
        return;
      end if;

      -- The shared send caps (overall, per country), spread ones from this connection's share in key
      -- order, as in 0010.
      for i in 1 .. coalesce(array_length(p_keys, 1), 0) loop
        if not nomisafe_spread(p_limits[i]) then
          v_exact := v_exact + 1;
          continue;
        end if;
        update rate_counter_shards s set count = s.count + 1
          where s.key = p_keys[i] and s.window_start = p_windows[i] and s.shard = v_shard and s.count < s.granted and s.granted_for = p_limits[i];
        if not found then
          if not nomisafe_take(p_keys[i], p_windows[i], p_limits[i]) then
            perform nomisafe_give_back(v_taken_keys, v_taken_windows);
            outcome := 'limited'; limit_key := p_keys[i]; limit_window := p_windows[i]; return next;
            return;
          end if;
        end if;
        v_taken_keys := v_taken_keys || p_keys[i];
        v_taken_windows := v_taken_windows || p_windows[i];
      end loop;

      -- The exact shared caps, each counted only while it has room; when one has none, the others are
      -- taken back.
      if v_exact > 0 then
        with counted as (
          insert into rate_counters as rc (key, window_start, count)
            select t.k, t.w, 1 from unnest(p_keys, p_windows, p_limits) as t(k, w, l) where not nomisafe_spread(t.l) order by t.k
            on conflict (key, window_start) do update set count = rc.count + 1
              where rc.count < (select t.l from unnest(p_keys, p_limits) as t(k, l) where t.k = rc.key)
            returning rc.key
        )
        select array_agg(c.key), count(*) = v_exact into v_counted, v_ok from counted c;
        if not v_ok then
          update rate_counters rc set count = rc.count - 1
            from unnest(p_keys, p_windows) as t(k, w)
            where t.k = any(v_counted) and rc.key = t.k and rc.window_start = t.w;
          perform nomisafe_give_back(v_taken_keys, v_taken_windows);
          select t.k, t.w into limit_key, limit_window from unnest(p_keys, p_windows, p_limits) as t(k, w, l)
            where not nomisafe_spread(t.l) and not (t.k = any(coalesce(v_counted, '{}'))) order by t.k limit 1;
          outcome := 'limited'; return next;
          return;
        end if;
      end if;

      -- The number's row: the cooldown and its hour and day caps checked, the code and the counts
      -- written, in one statement under the row's lock; the audit row with it.
      with code as (
        insert into otp_codes as o (phone_number, code_hash, created_at, expires_at, attempts, used_at, sends_hour_start, sends_hour, sends_day_start, sends_day)
          values (p_phone, p_code_hash, p_now, p_expires_at, 0, null, p_hour_window, 1, p_day_window, 1)
          on conflict (phone_number) do update
            set code_hash = excluded.code_hash, created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0, used_at = null,
                sends_hour_start = excluded.sends_hour_start,
                sends_hour = case when o.sends_hour_start = excluded.sends_hour_start then o.sends_hour + 1 else 1 end,
                sends_day_start = excluded.sends_day_start,
                sends_day = case when o.sends_day_start = excluded.sends_day_start then o.sends_day + 1 else 1 end
            where (o.created_at is null or o.created_at <= p_now - make_interval(secs => p_cooldown_seconds))
              and (p_hour_limit <= 0 or o.sends_hour_start is distinct from p_hour_window or o.sends_hour < p_hour_limit)
              and (p_day_limit <= 0 or o.sends_day_start is distinct from p_day_window or o.sends_day < p_day_limit)
          returning 1
      ), audit as (
        insert into audit_events (at, type, phone_masked, ip, request_id, detail)
          select p_now, 'code_sent', p_phone_masked, p_ip, p_request_id, p_audit_detail from code
      )
      select count(*) > 0 into v_issued from code;
      if v_issued then
        outcome := 'issued'; return next;
        return;
      end if;

      -- Refused by the number's row: give back the shared counts and say which rule refused.
      update rate_counters rc set count = rc.count - 1
        from unnest(p_keys, p_windows, p_limits) as t(k, w, l)
        where not nomisafe_spread(t.l) and rc.key = t.k and rc.window_start = t.w;
      perform nomisafe_give_back(v_taken_keys, v_taken_windows);
      select * into v_row from otp_codes o where o.phone_number = p_phone;
      if v_row.created_at > p_now - make_interval(secs => p_cooldown_seconds) then
        outcome := 'cooldown'; last_sent_at := v_row.created_at;
      elsif p_hour_limit > 0 and v_row.sends_hour_start = p_hour_window and v_row.sends_hour >= p_hour_limit then
        outcome := 'limited'; limit_key := p_hour_key; limit_window := p_hour_window;
      elsif p_day_limit > 0 and v_row.sends_day_start = p_day_window and v_row.sends_day >= p_day_limit then
        outcome := 'limited'; limit_key := p_day_key; limit_window := p_day_window;
      else
        -- The row changed since it refused (a racing request's code was withdrawn): wait a cooldown.
        outcome := 'cooldown'; last_sent_at := coalesce(v_row.created_at, p_now);
      end if;
      return next;
    end
    $fn$
  `.execute(db)

  await sql`
    create function nomisafe_withdraw_code(
      p_phone text, p_code_hash text, p_keys text[], p_windows timestamptz[], p_limits integer[],
      p_hour_window timestamptz, p_day_window timestamptz,
      p_now timestamptz, p_phone_masked text, p_ip text, p_request_id text, p_audit_detail text
    ) returns void
    language plpgsql set enable_seqscan = off as $fn$
    begin
      -- A code that never reached the phone neither works, nor holds the cooldown, nor counts as sent.
      -- The shared counts first, then the number's row: the order a code request locks them in.
      insert into rate_counter_shards as s (key, window_start, shard, count)
        select t.k, t.w, pg_backend_pid() % 64, -1 from unnest(p_keys, p_windows, p_limits) as t(k, w, l) where nomisafe_spread(t.l) order by t.k
        on conflict (key, window_start, shard) do update set count = s.count - 1;
      update rate_counters rc set count = greatest(rc.count - 1, 0)
        from unnest(p_keys, p_windows, p_limits) as t(k, w, l)
        where not nomisafe_spread(t.l) and rc.key = t.k and rc.window_start = t.w;
      update otp_codes o set code_hash = null, created_at = null, expires_at = null, attempts = 0, used_at = null,
          sends_hour = case when o.sends_hour_start = p_hour_window then greatest(o.sends_hour - 1, 0) else o.sends_hour end,
          sends_day = case when o.sends_day_start = p_day_window then greatest(o.sends_day - 1, 0) else o.sends_day end
        where o.phone_number = p_phone and o.code_hash = p_code_hash;
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
    language plpgsql set enable_seqscan = off as $fn$
    declare
      v_counted_here boolean := false;
      v_used timestamptz;
      v_attempts integer;
      v_disabled timestamptz;
      v_row otp_codes;
    begin
      -- The answer is the output columns, returned once at the end.
      outcome := 'signed_in';
      <<steps>>
      begin
        -- Every verify from an address counts, as in the code request.
        if nomisafe_spread(p_ip_limit) then
          update rate_counter_shards s set count = s.count + 1
            where s.key = p_ip_key and s.window_start = p_ip_window and s.shard = pg_backend_pid() % 64 and s.count < s.granted and s.granted_for = p_ip_limit;
          v_counted_here := found;
        end if;
        if not v_counted_here then
          if nomisafe_hit(p_ip_key, p_ip_window, p_ip_limit) then
            outcome := 'limited'; limit_key := p_ip_key; limit_window := p_ip_window;
            exit steps;
          end if;
        end if;

        -- The attempt counted, the code used and the number's failure budget checked and counted, in one
        -- statement under the row's lock: a spent budget leaves the code untouched.
        update otp_codes o set attempts = o.attempts + 1,
            used_at = case when o.code_hash = p_code_hash then p_now else null end,
            fails = case when o.code_hash = p_code_hash then o.fails when o.fails_start = p_fail_window then o.fails + 1 else 1 end,
            fails_start = case when o.code_hash = p_code_hash then o.fails_start else p_fail_window end
          where o.phone_number = p_phone and o.used_at is null and o.expires_at > p_now and o.attempts < p_max_attempts
            and (p_fail_limit <= 0 or o.fails_start is distinct from p_fail_window or o.fails < p_fail_limit)
          returning o.used_at, o.attempts, o.created_at into v_used, v_attempts, sent_at;

        if v_used is null then
          if v_attempts is null then
            -- No code with guesses left (or a spent budget): the failure still counts on the number's row.
            select * into v_row from otp_codes o where o.phone_number = p_phone for update;
            if found then
              if p_fail_limit > 0 and v_row.fails_start = p_fail_window and v_row.fails >= p_fail_limit then
                outcome := 'limited'; limit_key := p_fail_key; limit_window := p_fail_window; sent_at := null;
                exit steps;
              end if;
              update otp_codes o set fails = case when o.fails_start = p_fail_window then o.fails + 1 else 1 end, fails_start = p_fail_window
                where o.phone_number = p_phone;
              if v_row.used_at is null and v_row.expires_at > p_now and v_row.attempts >= p_max_attempts then
                sent_at := v_row.created_at;
              end if;
            end if;
          elsif v_attempts < p_max_attempts then
            sent_at := null;
          end if;
          insert into audit_events (at, type, phone_masked, ip, request_id, detail)
            values (p_now, 'verify_failed', p_phone_masked, p_ip, p_request_id,
                    case when sent_at is null then '{}' else '{"reason":"attempts spent"}' end);
          outcome := case when sent_at is null then 'wrong' else 'exhausted' end;
          exit steps;
        end if;
        sent_at := null;

        -- User, session and audit row in one statement, as in 0010.
        with u as (
          insert into users as u (phone_number, created_at, last_login_at) values (p_phone, p_now, p_now)
            on conflict (phone_number) do update
              set last_login_at = case when u.disabled_at is null then excluded.last_login_at else u.last_login_at end
            returning u.id, u.disabled_at, (u.xmax = 0) as created
        ), session as (
          insert into sessions (id, user_id, refresh_jti_hash, created_at, expires_at)
            select p_session_id, u.id, p_refresh_jti_hash, p_now, p_session_expires_at from u where u.disabled_at is null
        ), audit as (
          insert into audit_events (at, type, user_id, phone_masked, ip, request_id, detail)
            select p_now, case when u.disabled_at is null then 'signed_in' else 'verify_failed' end, u.id, p_phone_masked, p_ip, p_request_id,
                   case when u.disabled_at is null then json_build_object('created', u.created, 'session_id', p_session_id)::text
                        else '{"reason":"account disabled"}' end
              from u
        )
        select u.id, u.disabled_at, u.created into user_id, v_disabled, created from u;
        if v_disabled is not null then
          outcome := 'disabled'; created := false;
        elsif created and p_event_id is not null then
          -- The user.created event, when events are on: its own statement, only for a new user.
          insert into events (id, type, payload, created_at, next_attempt_at, give_up_at)
            values (p_event_id, 'user.created',
                    '{"type":"user.created","timestamp":"' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                      || '","data":{"id":' || user_id || ',"phone_number":' || to_json(p_phone)::text || '}}',
                    p_now, p_now, p_event_give_up_at);
        end if;
      end;

      return next;
    end
    $fn$
  `.execute(db)

  // The previous signatures stay, as wrappers, for instances of the previous release still running
  // during a rolling deploy: they pass the number's caps (send:number:…, in the same arrays as the
  // shared ones before) to the functions above, so those requests are counted on the row too.
  await sql`
    create or replace function nomisafe_request_code(
      p_phone text, p_code_hash text, p_now timestamptz, p_expires_at timestamptz, p_cooldown_seconds integer,
      p_ip_key text, p_ip_window timestamptz, p_ip_limit integer,
      p_keys text[], p_windows timestamptz[], p_limits integer[],
      p_phone_masked text, p_ip text, p_request_id text, p_audit_detail text
    ) returns table (outcome text, limit_key text, limit_window timestamptz, last_sent_at timestamptz)
    language sql as $fn$
      with t as (select * from unnest(p_keys, p_windows, p_limits) as t(k, w, l)),
      shared as (
        select coalesce(array_agg(t.k order by t.k), '{}') as k, coalesce(array_agg(t.w order by t.k), '{}') as w,
               coalesce(array_agg(t.l order by t.k), '{}') as l
          from t where t.k not like 'send:number:%'
      ),
      hour as (select t.k, t.w, t.l from t where t.k like 'send:number:%:3600'),
      day as (select t.k, t.w, t.l from t where t.k like 'send:number:%:86400')
      select r.* from shared
        left join hour on true left join day on true,
        lateral nomisafe_request_code(p_phone, p_code_hash, p_now, p_expires_at, p_cooldown_seconds, p_ip_key, p_ip_window, p_ip_limit,
          shared.k, shared.w, shared.l, hour.k, hour.w, coalesce(hour.l, 0), day.k, day.w, coalesce(day.l, 0),
          p_phone_masked, p_ip, p_request_id, p_audit_detail) as r
    $fn$
  `.execute(db)
  await sql`
    create or replace function nomisafe_withdraw_code(
      p_phone text, p_code_hash text, p_keys text[], p_windows timestamptz[], p_limits integer[],
      p_now timestamptz, p_phone_masked text, p_ip text, p_request_id text, p_audit_detail text
    ) returns void
    language sql as $fn$
      select nomisafe_withdraw_code(p_phone, p_code_hash,
        coalesce(array(select t.k from unnest(p_keys) as t(k) where t.k not like 'send:number:%' order by t.k), '{}'),
        coalesce(array(select t.w from unnest(p_keys, p_windows) as t(k, w) where t.k not like 'send:number:%' order by t.k), '{}'),
        coalesce(array(select t.l from unnest(p_keys, p_limits) as t(k, l) where t.k not like 'send:number:%' order by t.k), '{}'),
        (select t.w from unnest(p_keys, p_windows) as t(k, w) where t.k like 'send:number:%:3600'),
        (select t.w from unnest(p_keys, p_windows) as t(k, w) where t.k like 'send:number:%:86400'),
        p_now, p_phone_masked, p_ip, p_request_id, p_audit_detail)
    $fn$
  `.execute(db)

  // Audit rows of a code request have no user: the by-user index holds only the rows that do.
  await sql`create index audit_events_user_id_at_idx on audit_events (user_id, at) where user_id is not null`.execute(db)
  await sql`drop index audit_events_user_id_idx`.execute(db)
}
