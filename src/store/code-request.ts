import type { Db } from './connect.ts'
import { hitCounters, type Exceeded, type Hit } from './counters.ts'
import { issueCode, type IssueCode } from './otp-codes.ts'

export type ClaimResult =
  | { outcome: 'issued' }
  | { outcome: 'cooldown'; retryAfterSeconds: number }
  | { outcome: 'limited'; exceeded: Exceeded }

class Refused extends Error {
  readonly result: ClaimResult
  constructor(result: ClaimResult) {
    super(result.outcome)
    this.result = result
  }
}

/**
 * Counts the SMS against every cap and stores the code, in one transaction: when a cap or the
 * cooldown refuses, nothing was counted or written; concurrent requests can't overshoot a cap.
 */
export async function claimCode(db: Db, hits: Hit[], code: IssueCode): Promise<ClaimResult> {
  try {
    return await db.transaction().execute(async (trx) => {
      const exceeded = await hitCounters(trx, hits)
      if (exceeded) throw new Refused({ outcome: 'limited', exceeded })
      const issued = await issueCode(trx, code)
      if (!issued.issued) throw new Refused({ outcome: 'cooldown', retryAfterSeconds: issued.retryAfterSeconds })
      return { outcome: 'issued' } as const
    })
  } catch (err) {
    if (err instanceof Refused) return err.result
    throw err
  }
}
