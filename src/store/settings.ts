import type { Db } from './connect.ts'

/** Returns the stored value, storing `candidate` first if there is none (the first instance wins). */
export async function getOrCreateSetting(db: Db, name: string, candidate: string): Promise<string> {
  await db.insertInto('settings').values({ name, value: candidate }).onConflict((oc) => oc.column('name').doNothing()).execute()
  const row = await db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirstOrThrow()
  return row.value
}
