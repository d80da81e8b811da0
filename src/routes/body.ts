import type { Context } from 'hono'
import * as v from 'valibot'
import { AppError } from '../errors.ts'

export const MAX_BODY_BYTES = 16 * 1024

// One decoder for every body: a whole-buffer decode keeps no state between calls.
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads and validates a JSON body. Anything wrong with it is a 400 invalid_request naming the
 * fields (or 413 when too large), so a client's mistake never becomes a 5xx.
 */
export async function readJson<S extends v.GenericSchema>(c: Context, schema: S): Promise<v.InferOutput<S>> {
  const declared = Number(c.req.header('content-length') ?? '0')
  if (declared > MAX_BODY_BYTES) throw tooLarge()
  let text: string
  try {
    const bytes = await c.req.arrayBuffer()
    if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge()
    text = utf8.decode(bytes)
  } catch (err) {
    if (err instanceof AppError) throw err
    throw new AppError('invalid_request', { detail: 'The request body could not be read as UTF-8 text.' })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new AppError('invalid_request', { detail: 'The request body must be a JSON object.' })
  }
  const r = v.safeParse(schema, json)
  if (r.success) return r.output
  const invalidParams = r.issues.map((i) => ({ name: v.getDotPath(i) ?? 'body', reason: i.message }))
  const names = [...new Set(invalidParams.map((p) => p.name))].join(', ')
  throw new AppError('invalid_request', { detail: `The request body is not valid: ${names}.`, invalidParams })
}

function tooLarge(): AppError {
  return new AppError('invalid_request', { status: 413, detail: `The request body is larger than ${MAX_BODY_BYTES} bytes.` })
}

/** A required string field, with a message that names what was expected. */
export const field = (name: string, maxLength: number) =>
  v.pipe(
    v.string(`${name} must be a string`),
    v.minLength(1, `${name} must not be empty`),
    v.maxLength(maxLength, `${name} must be at most ${maxLength} characters`),
  )

export const object = <T extends v.ObjectEntries>(entries: T) =>
  v.object(entries, (issue) => (issue.input === undefined ? 'required' : 'the body must be a JSON object'))
