import { type Kysely, sql } from 'kysely'

// The two step functions run fewer statements on the path every sign-in takes: 11 a flow instead of
// 16, and no nested function call instead of six. Under the benchmark's load, starting the
// statements' executors took a fifth of PostgreSQL's CPU, and the nested calls, with the updates
// they ran, nearly another fifth (perf, bench/RESULTS.md):
// - a spread cap's hit within this connection's share is one update in the step itself;
//   nomisafe_take (0008), a nested call with its own setting, runs only when the share is used up;
// - the exact send caps, the code and its audit row are one statement, the code written only when
//   every cap was counted;
// - the number's failure budget is checked inside the update that counts the attempt;
// - the answer is the function's output columns (RETURN NEXT), not one more query.
// What each step checks, counts and writes, and in which order, is unchanged. Both functions plan
// with sequential scans off, for the reason of 0009: every statement reads its rows by key.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create or replace function nomisafe_request_code(
      p_phone text, p_code_hash text, p_now timestamptz, p_expires_at timestamptz, p_cooldown_seconds integer,
      p_ip_key text, p_ip_window timestamptz, p_ip_limit integer,
      p_keys text[], p_windows timestamptz[], p_limits integer[],
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
      v_taken_keys text[] := '{}';
      v_taken_windows timestamptz[] := '{}';
    begin
      -- Every request from an address counts, whatever happens next: within this connection's share
      -- of a spread cap, one update; otherwise as in 0008.
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

      -- Requests for one number take turns, so the cooldown read below is exact.
      perform pg_advisory_xact_lock(hashtext('nomisafe.otp:' || p_phone));
      select o.created_at into v_last from otp_codes o where o.phone_number = p_phone;
      if v_last is not null and v_last > p_now - make_interval(secs => p_cooldown_seconds) then
        outcome := 'cooldown'; last_sent_at := v_last; return next;
        return;
      end if;

      -- The spread send caps in key order, each from this connection's share (a new share only when it
      -- is used up), given back if a later cap has no room; the exact ones are counted below.
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

      -- The exact send caps, each counted only while it has room, and the new code with its audit row,
      -- written only when every cap was counted; when one had none, the others are taken back.
      with counted as (
        insert into rate_counters as rc (key, window_start, count)
          select t.k, t.w, 1 from unnest(p_keys, p_windows, p_limits) as t(k, w, l) where not nomisafe_spread(t.l) order by t.k
          on conflict (key, window_start) do update set count = rc.count + 1
            where rc.count < (select t.l from unnest(p_keys, p_limits) as t(k, l) where t.k = rc.key)
          returning rc.key
      ), tally as (
        select array_agg(c.key) as keys, count(*) = v_exact as ok from counted c
      ), code as (
        insert into otp_codes as o (phone_number, code_hash, created_at, expires_at, attempts, used_at)
          select p_phone, p_code_hash, p_now, p_expires_at, 0, null from tally where tally.ok
          on conflict (phone_number) do update
            set code_hash = excluded.code_hash, created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0, used_at = null
      ), audit as (
        insert into audit_events (at, type, phone_masked, ip, request_id, detail)
          select p_now, 'code_sent', p_phone_masked, p_ip, p_request_id, p_audit_detail from tally where tally.ok
      )
      select tally.keys, tally.ok into v_counted, v_ok from tally;
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
      outcome := 'issued'; return next;
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
      v_count integer;
      v_used timestamptz;
      v_attempts integer;
      v_disabled timestamptz;
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

        -- Verifies of one number take turns. The attempt is counted and the code used in one statement,
        -- which also checks the number's failure budget: a spent budget leaves the code untouched.
        perform pg_advisory_xact_lock(hashtext('nomisafe.otp:' || p_phone));
        update otp_codes o set attempts = o.attempts + 1,
            used_at = case when o.code_hash = p_code_hash then p_now else null end
          where o.phone_number = p_phone and o.used_at is null and o.expires_at > p_now and o.attempts < p_max_attempts
            and (p_fail_limit <= 0 or not exists (
              select from rate_counters rc where rc.key = p_fail_key and rc.window_start = p_fail_window and rc.count >= p_fail_limit))
          returning o.used_at, o.attempts, o.created_at into v_used, v_attempts, sent_at;

        if v_used is null then
          if p_fail_limit > 0 then
            select rc.count into v_count from rate_counters rc where rc.key = p_fail_key and rc.window_start = p_fail_window;
            if v_count >= p_fail_limit then
              outcome := 'limited'; limit_key := p_fail_key; limit_window := p_fail_window; sent_at := null;
              exit steps;
            end if;
            insert into rate_counters as rc (key, window_start, count) values (p_fail_key, p_fail_window, 1)
              on conflict (key, window_start) do update set count = rc.count + 1;
          end if;
          if v_attempts is null then
            select o.created_at into sent_at from otp_codes o
              where o.phone_number = p_phone and o.used_at is null and o.expires_at > p_now and o.attempts >= p_max_attempts;
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

        -- User, session, user.created event and audit row in one statement, as in 0007.
        with u as (
          insert into users as u (phone_number, created_at, last_login_at) values (p_phone, p_now, p_now)
            on conflict (phone_number) do update
              set last_login_at = case when u.disabled_at is null then excluded.last_login_at else u.last_login_at end
            returning u.id, u.disabled_at, (u.xmax = 0) as created
        ), session as (
          insert into sessions (id, user_id, refresh_jti_hash, created_at, expires_at)
            select p_session_id, u.id, p_refresh_jti_hash, p_now, p_session_expires_at from u where u.disabled_at is null
        ), event as (
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
        select u.id, u.disabled_at, u.created into user_id, v_disabled, created from u;
        if v_disabled is not null then
          outcome := 'disabled'; created := false;
        end if;
      end;

      return next;
    end
    $fn$
  `.execute(db)
}
