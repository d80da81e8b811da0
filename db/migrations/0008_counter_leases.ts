import { type Kysely, sql } from 'kysely'

// Busy caps counted without reading every row (0007 read the sum of a spread cap's rows on each
// hit). Each connection's row now also holds a share of the cap it was granted: while its count is
// below its share, a hit is one update of that one row. When the share is used up, the connection
// takes a new one under the cap's lock (1/256 of the cap, at most what nobody holds yet); when
// nothing is left to hand out, it takes back the shares other connections have not used. So a cap
// passes exactly its limit, as before, and rows counted before this migration (no share) count as
// used. A share counts only under the cap it was handed out for: a cap changed within its window
// (lowered during an attack, say) holds from the next hit. Once a cap is reached, refusals read the
// sum and take no lock: a flood from one address does not queue the pool behind a lock.
//
// The spread send caps of nomisafe_request_code are taken the same way. 0007 checked them with one
// statement reading each cap's sum in a subquery over the arrays it was given, which PostgreSQL
// planned anew on every call (its custom plan always looked cheaper): ~90 µs of planning a code
// request against ~40 µs of running it (pg_stat_statements, track = all, track_planning = on).
export async function up(db: Kysely<unknown>): Promise<void> {
  // granted: the share this connection's row may still count up to; granted_for: the cap it was
  // handed out under (a share of another cap, say one lowered during an attack, is not used).
  await sql`alter table rate_counter_shards add column granted integer not null default 0`.execute(db)
  await sql`alter table rate_counter_shards add column granted_for integer not null default 0`.execute(db)

  // One hit on a spread cap, counted only if the cap has room; true when it was counted.
  await sql`
    create function nomisafe_take(p_key text, p_window timestamptz, p_limit integer) returns boolean
    language plpgsql as $fn$
    declare
      v_shard smallint := pg_backend_pid() % 64;
      v_count bigint;
      v_held bigint;
      v_grant bigint;
    begin
      -- Within this connection's share of the cap as it is now: one row, no sum.
      update rate_counter_shards s set count = s.count + 1
        where s.key = p_key and s.window_start = p_window and s.shard = v_shard and s.count < s.granted and s.granted_for = p_limit;
      if found then
        return true;
      end if;
      select coalesce(sum(s.count), 0) into v_count from rate_counter_shards s where s.key = p_key and s.window_start = p_window;
      if v_count >= p_limit then
        return false;
      end if;
      -- A new share, handed out under the cap's lock so two connections never hand out the same.
      perform pg_advisory_xact_lock(hashtextextended('nomisafe.cap:' || p_key, extract(epoch from p_window)::bigint));
      -- Held: the other connections' shares (or their counts, where larger) and this one's count;
      -- what is left of this connection's own share is replaced by the new one.
      select coalesce(sum(case when s.shard = v_shard then s.count else greatest(s.granted, s.count) end), 0) into v_held
        from rate_counter_shards s where s.key = p_key and s.window_start = p_window;
      if v_held >= p_limit then
        -- Nothing left to hand out: take back what the other connections were given and did not use.
        update rate_counter_shards s set granted = s.count
          where s.key = p_key and s.window_start = p_window and s.shard <> v_shard and s.granted > s.count;
        select coalesce(sum(case when s.shard = v_shard then s.count else greatest(s.granted, s.count) end), 0) into v_held
          from rate_counter_shards s where s.key = p_key and s.window_start = p_window;
      end if;
      v_grant := least(greatest(p_limit / 256, 1), p_limit - v_held);
      if v_grant <= 0 then
        return false;
      end if;
      insert into rate_counter_shards as s (key, window_start, shard, count, granted, granted_for) values (p_key, p_window, v_shard, 1, v_grant, p_limit)
        on conflict (key, window_start, shard) do update set granted = s.count + v_grant, granted_for = p_limit, count = s.count + 1;
      return true;
    end
    $fn$
  `.execute(db)

  // A hit on a cap that counts every call (the client-address caps): counted even when refused.
  await sql`
    create or replace function nomisafe_hit(p_key text, p_window timestamptz, p_limit integer) returns boolean
    language plpgsql as $fn$
    declare
      v_count bigint;
    begin
      if p_limit <= 0 then
        return false;
      end if;
      if not nomisafe_spread(p_limit) then
        insert into rate_counters as rc (key, window_start, count) values (p_key, p_window, 1)
          on conflict (key, window_start) do update set count = rc.count + 1
          returning rc.count into v_count;
        return v_count > p_limit;
      end if;
      if nomisafe_take(p_key, p_window, p_limit) then
        return false;
      end if;
      insert into rate_counter_shards as s (key, window_start, shard, count) values (p_key, p_window, pg_backend_pid() % 64, 1)
        on conflict (key, window_start, shard) do update set count = s.count + 1;
      return true;
    end
    $fn$
  `.execute(db)

  // Gives back spread hits this transaction took (on this connection's rows) when a later cap refused.
  await sql`
    create function nomisafe_give_back(p_keys text[], p_windows timestamptz[]) returns void
    language sql as $fn$
      update rate_counter_shards s set count = s.count - 1
        from unnest(p_keys, p_windows) as t(k, w)
        where s.key = t.k and s.window_start = t.w and s.shard = pg_backend_pid() % 64
    $fn$
  `.execute(db)

  // nomisafe_request_code as in 0007 but for the spread send caps, now taken from shares (p_keys still
  // come sorted by key, flows.ts, so concurrent calls lock the rows they share in one order).
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
      v_taken_keys text[] := '{}';
      v_taken_windows timestamptz[] := '{}';
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

      -- The send caps, in key order. A spread one is taken from this connection's share of it, and
      -- given back if a later cap has no room.
      for i in 1 .. coalesce(array_length(p_keys, 1), 0) loop
        continue when not nomisafe_spread(p_limits[i]);
        if not nomisafe_take(p_keys[i], p_windows[i], p_limits[i]) then
          perform nomisafe_give_back(v_taken_keys, v_taken_windows);
          return query select 'limited'::text, p_keys[i], p_windows[i], null::timestamptz;
          return;
        end if;
        v_taken_keys := v_taken_keys || p_keys[i];
        v_taken_windows := v_taken_windows || p_windows[i];
      end loop;
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
          perform nomisafe_give_back(v_taken_keys, v_taken_windows);
          select t.k, t.w into v_key, v_window from unnest(p_keys, p_windows, p_limits) as t(k, w, l)
            where not nomisafe_spread(t.l) and not (t.k = any(coalesce(v_counted, '{}'))) order by t.k limit 1;
          return query select 'limited'::text, v_key, v_window, null::timestamptz;
          return;
        end if;
      end if;

      -- A new code replaces the older one; its audit row in the same statement.
      with code as (
        insert into otp_codes as o (phone_number, code_hash, created_at, expires_at, attempts, used_at)
          values (p_phone, p_code_hash, p_now, p_expires_at, 0, null)
          on conflict (phone_number) do update
            set code_hash = excluded.code_hash, created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0, used_at = null
      )
      insert into audit_events (at, type, phone_masked, ip, request_id, detail)
        values (p_now, 'code_sent', p_phone_masked, p_ip, p_request_id, p_audit_detail);
      return query select 'issued'::text, null::text, null::timestamptz, null::timestamptz;
    end
    $fn$
  `.execute(db)
}
