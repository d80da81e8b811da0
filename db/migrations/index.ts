import type { Migration } from 'kysely/migration'
import * as m0001 from './0001_initial.ts'
import * as m0002 from './0002_session_rotation.ts'
import * as m0003 from './0003_rate_limits.ts'
import * as m0004 from './0004_events_and_legacy.ts'
import * as m0005 from './0005_audit_events.ts'
import * as m0006 from './0006_flow_functions.ts'
import * as m0007 from './0007_spread_counters.ts'
import * as m0008 from './0008_counter_leases.ts'
import * as m0009 from './0009_shard_index_plans.ts'
import * as m0010 from './0010_fewer_statements.ts'
import * as m0011 from './0011_number_row.ts'

/** Listed by hand, not read from a folder, so a bundled binary carries every migration. */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_session_rotation': m0002,
  '0003_rate_limits': m0003,
  '0004_events_and_legacy': m0004,
  '0005_audit_events': m0005,
  '0006_flow_functions': m0006,
  '0007_spread_counters': m0007,
  '0008_counter_leases': m0008,
  '0009_shard_index_plans': m0009,
  '0010_fewer_statements': m0010,
  '0011_number_row': m0011,
}
