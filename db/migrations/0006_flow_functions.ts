import { type Kysely, sql } from 'kysely'

// Each step of a sign-in in one round trip and one transaction: the code request and the verify
// run as PL/pgSQL functions, so counters, cooldown, code, user, session, event and audit row are
// decided and written together, with every lock taken in one order (client-address counter, then
// the number, then the send counters by key), so concurrent calls never deadlock.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function nomisafe_request_code(
      p_phone text, p_code_hash text, p_now timestamptz, p_expires_at timestamptz, p_cooldown_seconds integer,
      p_ip_key text, p_ip_window timestamptz, p_ip_limit integer,
      p_keys text[], p_windows timestamptz[], p_limits integer[],
      p_phone_masked text, p_ip text, p_request_id text, p_audit_detail text
    ) returns table (outcome text, limit_key text, limit_window timestamptz, last_sent_at timestamptz)
    language plpgsql as $fn$
    declare
      v_count integer;
      v_last timestamptz;
      v_row record;
    begin
      -- Every request from an address counts, whatever happens next.
      if p_ip_limit > 0 then
        insert into rate_counters as rc (key, window_start, count) values (p_ip_key, p_ip_window, 1)
          on conflict (key, window_start) do update set count = rc.count + 1
          returning rc.count into v_count;
        if v_count > p_ip_limit then
          return query select 'limited'::text, p_ip_key, p_ip_window, null::timestamptz;
          return;
        end if;
      end if;

      -- Requests for one number take turns, so the cooldown read below is exact.
      perform pg_advisory_xact_lock(hashtext('nomisafe.otp:' || p_phone));
      select o.created_at into v_last from otp_codes o where o.phone_number = p_phone;
      if v_last is not null and v_last > p_now - make_interval(secs => p_cooldown_seconds) then
        return query select 'cooldown'::text, null::text, null::timestamptz, v_last;
        return;
      end if;

      -- The send caps: checked under lock, and counted only when every one has room.
      if coalesce(array_length(p_keys, 1), 0) > 0 then
        insert into rate_counters (key, window_start, count)
          select t.k, t.w, 0 from unnest(p_keys, p_windows) as t(k, w) order by t.k
          on conflict (key, window_start) do nothing;
        for v_row in
          select rc.key, rc.count, t.l from rate_counters rc
            join unnest(p_keys, p_windows, p_limits) as t(k, w, l) on rc.key = t.k and rc.window_start = t.w
            order by rc.key for update of rc
        loop
          if v_row.count >= v_row.l then
            return query select 'limited'::text, v_row.key, (select t.w from unnest(p_keys, p_windows) as t(k, w) where t.k = v_row.key), null::timestamptz;
            return;
          end if;
        end loop;
        update rate_counters rc set count = rc.count + 1
          from unnest(p_keys, p_windows) as t(k, w) where rc.key = t.k and rc.window_start = t.w;
      end if;

      -- A new code replaces the older one.
      insert into otp_codes as o (phone_number, code_hash, created_at, expires_at, attempts, used_at)
        values (p_phone, p_code_hash, p_now, p_expires_at, 0, null)
        on conflict (phone_number) do update
          set code_hash = excluded.code_hash, created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0, used_at = null;
      insert into audit_events (at, type, phone_masked, ip, request_id, detail)
        values (p_now, 'code_sent', p_phone_masked, p_ip, p_request_id, p_audit_detail);
      return query select 'issued'::text, null::text, null::timestamptz, null::timestamptz;
    end
    $fn$
  `.execute(db)

  await sql`
    create function nomisafe_withdraw_code(
      p_phone text, p_code_hash text, p_keys text[], p_windows timestamptz[],
      p_now timestamptz, p_phone_masked text, p_ip text, p_request_id text, p_audit_detail text
    ) returns void
    language plpgsql as $fn$
    begin
      -- A code that never reached the phone neither works, nor holds the cooldown, nor counts as sent.
      perform pg_advisory_xact_lock(hashtext('nomisafe.otp:' || p_phone));
      delete from otp_codes where phone_number = p_phone and code_hash = p_code_hash;
      update rate_counters rc set count = greatest(rc.count - 1, 0)
        from unnest(p_keys, p_windows) as t(k, w) where rc.key = t.k and rc.window_start = t.w;
      insert into audit_events (at, type, phone_masked, ip, request_id, detail)
        values (p_now, 'sms_failed', p_phone_masked, p_ip, p_request_id, p_audit_detail);
    end
    $fn$
  `.execute(db)

  await sql`
    create function nomisafe_sign_in(
      p_phone text, p_code_hash text, p_now timestamptz, p_max_attempts integer,
      p_ip_key text, p_ip_window timestamptz, p_ip_limit integer,
      p_fail_key text, p_fail_window timestamptz, p_fail_limit integer,
      p_session_id uuid, p_refresh_jti_hash text, p_session_expires_at timestamptz,
      p_event_id text, p_event_give_up_at timestamptz,
      p_phone_masked text, p_ip text, p_request_id text
    ) returns table (outcome text, user_id bigint, created boolean, sent_at timestamptz, limit_key text, limit_window timestamptz)
    language plpgsql as $fn$
    declare
      v_count integer;
      v_used timestamptz;
      v_attempts integer;
      v_sent timestamptz;
      v_user bigint;
      v_disabled timestamptz;
      v_created boolean;
    begin
      if p_ip_limit > 0 then
        insert into rate_counters as rc (key, window_start, count) values (p_ip_key, p_ip_window, 1)
          on conflict (key, window_start) do update set count = rc.count + 1
          returning rc.count into v_count;
        if v_count > p_ip_limit then
          return query select 'limited'::text, null::bigint, null::boolean, null::timestamptz, p_ip_key, p_ip_window;
          return;
        end if;
      end if;

      -- The number's failure budget is read under lock, so racing guesses can't overshoot it.
      if p_fail_limit > 0 then
        insert into rate_counters (key, window_start, count) values (p_fail_key, p_fail_window, 0)
          on conflict (key, window_start) do nothing;
        select rc.count into v_count from rate_counters rc
          where rc.key = p_fail_key and rc.window_start = p_fail_window for update;
        if v_count >= p_fail_limit then
          return query select 'limited'::text, null::bigint, null::boolean, null::timestamptz, p_fail_key, p_fail_window;
          return;
        end if;
      end if;

      -- Count the attempt and use the code in one statement: two racing verifies can't both win.
      update otp_codes o set attempts = o.attempts + 1,
          used_at = case when o.code_hash = p_code_hash then p_now else null end
        where o.phone_number = p_phone and o.used_at is null and o.expires_at > p_now and o.attempts < p_max_attempts
        returning o.used_at, o.attempts, o.created_at into v_used, v_attempts, v_sent;

      if v_used is null then
        if p_fail_limit > 0 then
          update rate_counters rc set count = rc.count + 1 where rc.key = p_fail_key and rc.window_start = p_fail_window;
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
        return query select case when v_sent is null then 'wrong' else 'exhausted' end, null::bigint, null::boolean, v_sent, null::text, null::timestamptz;
        return;
      end if;

      -- One user per number, created race-safe; xmax is 0 only on a row this statement inserted.
      insert into users as u (phone_number, created_at, last_login_at) values (p_phone, p_now, p_now)
        on conflict (phone_number) do update
          set last_login_at = case when u.disabled_at is null then excluded.last_login_at else u.last_login_at end
        returning u.id, u.disabled_at, (u.xmax = 0) into v_user, v_disabled, v_created;
      if v_disabled is not null then
        insert into audit_events (at, type, user_id, phone_masked, ip, request_id, detail)
          values (p_now, 'verify_failed', v_user, p_phone_masked, p_ip, p_request_id, '{"reason":"account disabled"}');
        return query select 'disabled'::text, v_user, false, null::timestamptz, null::text, null::timestamptz;
        return;
      end if;

      insert into sessions (id, user_id, refresh_jti_hash, created_at, expires_at)
        values (p_session_id, v_user, p_refresh_jti_hash, p_now, p_session_expires_at);
      if p_event_id is not null and v_created then
        -- Byte for byte what the outbox writes from the application: the payload that is signed.
        insert into events (id, type, payload, created_at, next_attempt_at, give_up_at)
          values (p_event_id, 'user.created',
                  '{"type":"user.created","timestamp":"' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                    || '","data":{"id":' || v_user || ',"phone_number":' || to_json(p_phone)::text || '}}',
                  p_now, p_now, p_event_give_up_at);
      end if;
      insert into audit_events (at, type, user_id, phone_masked, ip, request_id, detail)
        values (p_now, 'signed_in', v_user, p_phone_masked, p_ip, p_request_id,
                json_build_object('created', v_created, 'session_id', p_session_id)::text);
      return query select 'signed_in'::text, v_user, v_created, null::timestamptz, null::text, null::timestamptz;
    end
    $fn$
  `.execute(db)
}
