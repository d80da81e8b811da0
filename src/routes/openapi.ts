// The OpenAPI 3.1 document of the HTTP API (GET /openapi.json). One source of truth: the request
// bodies are the very valibot schemas the routes validate with, and the answers are valibot
// schemas too, all converted by @valibot/to-json-schema; the problem codes come from errors.ts.
// A new route is one more line in OPERATIONS (test/routes/openapi.test.ts fails until it is there).
import { toJsonSchemaDefs, type ConversionConfig, type JsonSchema } from '@valibot/to-json-schema'
import * as v from 'valibot'
import { CODES, problemType, type ErrorCode } from '../errors.ts'
import { AdminUser } from './admin.ts'
import { MAX_BODY_BYTES } from './body.ts'
import { OtpRequestBody, OtpVerifyBody } from './otp.ts'
import { LogoutBody, RefreshBody } from './session.ts'

/** The request bodies, exactly as the routes validate them: component name → schema. */
export const REQUEST_BODIES = {
  OtpRequest: OtpRequestBody,
  OtpVerify: OtpVerifyBody,
  RefreshRequest: RefreshBody,
  LogoutRequest: LogoutBody,
}

/** What the request schemas cannot say themselves: one sentence per field (every field has one; tested). */
const FIELD_NOTES: Record<keyof typeof REQUEST_BODIES, Record<string, string>> = {
  OtpRequest: {
    phone_number:
      'The number, in E.164 (`+12015550123`) or national form (`(201) 555-0123`, read in the deployment\'s `DEFAULT_COUNTRY`); spaces, dashes, dots and brackets are tolerated.',
    captcha_token: 'The token of the human check, when the deployment sets `CAPTCHA_PROVIDER`; ignored otherwise.',
  },
  OtpVerify: {
    phone_number: 'The number, in any form the code request accepts.',
    otp: 'The code from the SMS.',
  },
  RefreshRequest: {
    refresh: 'The refresh token of the session (also a refresh token of the original backend while `LEGACY_JWT_SECRET` is set).',
  },
  LogoutRequest: {
    refresh: 'The refresh token of the session to end. Required unless `all` is true.',
    all: 'With a Bearer access token: end every session of the user.',
  },
}

/** Rules across fields that the routes check after the schema: stated in the document too (tested against the API). */
const BODY_RULES: Partial<Record<keyof typeof REQUEST_BODIES, JsonSchema>> = {
  LogoutRequest: {
    anyOf: [
      { type: 'object', required: ['refresh'] },
      { type: 'object', required: ['all'], properties: { all: { const: true } } },
    ],
  },
}

const REQUEST_EXAMPLES: Record<keyof typeof REQUEST_BODIES, unknown> = {
  OtpRequest: { phone_number: '+12015550123' },
  OtpVerify: { phone_number: '+12015550123', otp: '123456' },
  RefreshRequest: { refresh: 'eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2ln' },
  LogoutRequest: { refresh: 'eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2ln' },
}

// ---- Answers ----

const seconds = (what: string, example: number) => v.pipe(v.number(), v.integer(), v.minValue(0), v.description(what), v.examples([example]))
const jwt = (what: string, more = '') =>
  v.pipe(v.string(), v.description(`${what} (JWS compact, EdDSA).${more}`), v.examples(['eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2ln']))
const userId = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(1),
  v.description('The user id: a positive integer from a database sequence. It never changes and is never reused.'),
  v.examples([42]),
)
const e164 = v.pipe(v.string(), v.regex(/^\+[1-9]\d{1,14}$/), v.description('The number in E.164 form.'), v.examples(['+12015550123']))
const bearer = v.pipe(v.literal('Bearer'), v.description('Send the access token as `Authorization: Bearer <access>`.'))

const InvalidParam = v.object({
  name: v.pipe(v.string(), v.description('The field, as a dot path (`body` for the body as a whole).')),
  reason: v.pipe(v.string(), v.description('What is wrong with it.')),
})

const Jwk = v.object({
  kty: v.literal('OKP'),
  crv: v.literal('Ed25519'),
  x: v.pipe(v.string(), v.description('The public key, base64url.')),
  kid: v.pipe(v.string(), v.description('The key id: its RFC 7638 thumbprint, as in the tokens\' `kid` header.')),
  alg: v.literal('EdDSA'),
  use: v.literal('sig'),
})

const ERROR_CODES = Object.keys(CODES) as [ErrorCode, ...ErrorCode[]]

/** The answers' bodies: component name → schema. */
export const RESPONSE_BODIES = {
  CodeSent: v.object({
    detail: v.pipe(v.string(), v.description('A sentence for the user.'), v.examples(['A code has been sent.'])),
    expires_in: seconds('Seconds until the code expires.', 300),
    resend_after: seconds('Seconds until a new code may be requested for the number.', 30),
  }),
  SignedIn: v.object({
    id: userId,
    phone_number: e164,
    access: jwt('The access token'),
    refresh: jwt('The refresh token'),
    token_type: bearer,
    expires_in: seconds('Seconds until the access token expires.', 3600),
    created: v.pipe(v.boolean(), v.description('True when this sign-in created the user.')),
  }),
  Tokens: v.object({
    access: jwt('A new access token'),
    refresh: jwt('The new refresh token', ' The presented one stops working.'),
    token_type: bearer,
    expires_in: seconds('Seconds until the access token expires.', 3600),
  }),
  User: v.object({
    id: userId,
    phone_number: e164,
    created_at: v.pipe(v.string(), v.isoTimestamp(), v.description('When the user was created (RFC 3339, UTC).'), v.examples(['2026-01-02T03:04:05.000Z'])),
    last_login_at: v.pipe(
      v.nullable(v.pipe(v.string(), v.isoTimestamp())),
      v.description('The last sign-in (RFC 3339, UTC), or null.'),
    ),
  }),
  Jwk,
  Jwks: v.object({ keys: v.pipe(v.array(Jwk), v.description('Every public key that may have signed a live token.')) }),
  Health: v.object({ status: v.literal('ok') }),
  Ready: v.object({ status: v.literal('ready') }),
  NotReady: v.object({ status: v.picklist(['not_migrated', 'database_unreachable', 'shutting_down']) }),
  OpenApiDocument: v.pipe(v.looseObject({ openapi: v.string() }), v.description('An OpenAPI 3.1 document.')),
  AdminUser,
  AdminSessions: v.object({
    sessions: v.array(
      v.object({
        id: v.pipe(v.string(), v.uuid(), v.description('The session id (the `sid` claim of its refresh tokens).')),
        created_at: v.pipe(v.string(), v.isoTimestamp(), v.description('The sign-in that started it.')),
        refreshed_at: v.pipe(v.nullable(v.pipe(v.string(), v.isoTimestamp())), v.description('The last refresh, or null.')),
        expires_at: v.pipe(v.string(), v.isoTimestamp(), v.description('When it ends unless refreshed.')),
      }),
    ),
  }),
  SessionsEnded: v.object({ ended: v.pipe(v.number(), v.integer(), v.minValue(0), v.description('How many live sessions were ended.')) }),
  InvalidParam,
  Problem: v.pipe(
    v.object({
      type: v.pipe(v.string(), v.url(), v.description('A URI naming the kind of problem.')),
      title: v.pipe(v.string(), v.description('A short summary of the kind of problem.')),
      status: v.pipe(v.number(), v.integer(), v.minValue(400), v.maxValue(599), v.description('The HTTP status.')),
      detail: v.pipe(v.string(), v.description('A sentence a person can read.')),
      code: v.pipe(v.picklist(ERROR_CODES), v.description('The stable, machine-readable reason.')),
      invalid_params: v.pipe(v.optional(v.array(InvalidParam)), v.description('With `invalid_request`: the offending fields.')),
    }),
    v.description('RFC 9457 problem details.'),
  ),
}

type ResponseName = keyof typeof RESPONSE_BODIES

// ---- Operations ----

type Tag = 'Sign-in' | 'Sessions' | 'Tokens' | 'Operations' | 'Admin'

/** An answer other than a problem: status, description, and its JSON body or media type. */
type Answer = [status: number, description: string, body?: ResponseName | `${string}/${string}`]

export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete'
  /** As documented: the API's paths with the trailing slash the original clients use; `{name}` for a parameter. */
  path: string
  id: string
  tag: Tag
  summary: string
  description?: string
  body?: keyof typeof REQUEST_BODIES
  /**
   * `bearer`: a user's access token is required; `optional`: only some uses of the endpoint need one;
   * `admin`: the ADMIN_TOKEN; `metrics`: the METRICS_TOKEN, when the deployment sets one.
   */
  auth?: 'bearer' | 'optional' | 'admin' | 'metrics'
  /** Path and query parameters: name → description. */
  params?: Record<string, string>
  query?: Record<string, string>
  answers: Answer[]
  /** The problem codes it may answer; `internal_error` (500) is added to every operation. */
  problems?: ErrorCode[]
}

const DB: ErrorCode[] = ['service_unavailable']

/** Every route the app serves (but the /docs page's assets), one line each. */
export const OPERATIONS: Operation[] = [
  { method: 'post', path: '/api/auth/otp/request/', id: 'requestCode', tag: 'Sign-in', summary: 'Text a sign-in code', description: 'Normalises the number to E.164 and texts it a new one-time code, which replaces every earlier unused code for that number. The answer is the same whether or not a user has the number. Any `Authorization` header is ignored.', body: 'OtpRequest', answers: [[202, 'The code was sent.', 'CodeSent']], problems: ['invalid_request', 'invalid_phone_number', 'phone_number_not_allowed', 'phone_number_opted_out', 'captcha_failed', 'rate_limited', 'sms_delivery_failed', ...DB] },
  { method: 'post', path: '/api/auth/otp/verify/', id: 'verifyCode', tag: 'Sign-in', summary: 'Exchange the code for tokens', description: 'Uses up the code (it never works a second time, even when two requests race with it), creates the user on the first sign-in, and answers an access and a refresh token. A wrong, expired, used or never-sent code is one answer: `invalid_otp`. Any `Authorization` header is ignored.', body: 'OtpVerify', answers: [[200, 'Signed in.', 'SignedIn']], problems: ['invalid_request', 'invalid_phone_number', 'phone_number_not_allowed', 'invalid_otp', 'too_many_attempts', 'account_disabled', ...DB] },
  { method: 'post', path: '/api/auth/token/refresh/', id: 'refreshTokens', tag: 'Sessions', summary: 'Rotate a refresh token', description: 'Answers a new pair; the presented refresh token stops working. Presenting one that was already rotated away ends the whole session (`invalid_token`), except within `REFRESH_REUSE_GRACE` seconds of its rotation, where the answer is the session\'s newest refresh token.', body: 'RefreshRequest', answers: [[200, 'The new tokens.', 'Tokens']], problems: ['invalid_request', 'invalid_token', 'account_disabled', ...DB] },
  { method: 'post', path: '/api/auth/logout/', id: 'logout', tag: 'Sessions', summary: 'End a session, or all of them', description: '`{"refresh": …}` ends that session. `{"all": true}` with `Authorization: Bearer <access>` ends every session of the user.', body: 'LogoutRequest', auth: 'optional', answers: [[204, 'The session (or every session) has ended.']], problems: ['invalid_request', 'invalid_token', ...DB] },
  { method: 'get', path: '/api/auth/me/', id: 'getMe', tag: 'Sessions', summary: 'The signed-in user', auth: 'bearer', answers: [[200, 'The user of the access token.', 'User']], problems: ['invalid_token', 'account_disabled', ...DB] },
  { method: 'delete', path: '/api/auth/me/', id: 'deleteMe', tag: 'Sessions', summary: 'Delete the account', description: 'Deletes the account and every session of it, and emits a `user.deleted` event. This service refuses the account\'s tokens at once; services that verify access tokens on their own accept one until it expires. A disabled user is not deleted (`account_disabled`).', auth: 'bearer', answers: [[204, 'The account is deleted.']], problems: ['invalid_token', 'account_disabled', ...DB] },
  { method: 'get', path: '/.well-known/jwks.json', id: 'getJwks', tag: 'Tokens', summary: 'The public keys that verify tokens', description: 'Every public key that may have signed a live token, so other services verify access tokens without calling this one.', answers: [[200, 'The JSON Web Key Set.', 'Jwks']], problems: DB },
  { method: 'get', path: '/healthz', id: 'health', tag: 'Operations', summary: 'Liveness', answers: [[200, 'The process serves.', 'Health']] },
  { method: 'get', path: '/readyz', id: 'ready', tag: 'Operations', summary: 'Readiness', description: 'For load balancers: ready when the database is reachable and migrated, and the instance is not shutting down.', answers: [[200, 'Ready.', 'Ready'], [503, 'Not ready: the database is unreachable or not migrated, or the instance is shutting down.', 'NotReady']] },
  { method: 'get', path: '/openapi.json', id: 'openApiDocument', tag: 'Operations', summary: 'This OpenAPI document', answers: [[200, 'The OpenAPI 3.1 document of this API.', 'OpenApiDocument']] },
  { method: 'get', path: '/docs', id: 'apiReference', tag: 'Operations', summary: 'The interactive API reference', description: 'A page that renders this document. All its assets are served by the service itself.', answers: [[200, 'The HTML page.', 'text/html']] },
  { method: 'get', path: '/metrics', id: 'metrics', tag: 'Operations', summary: 'Prometheus metrics', description: 'Requests by route and status, latencies, codes sent, verify outcomes, limits hit, SMS spend. With `METRICS_TOKEN` set, only with that Bearer token; with `METRICS_PORT` set, served on that port instead of this one.', auth: 'metrics', answers: [[200, 'The metrics, in Prometheus text format.', 'text/plain']], problems: ['invalid_token'] },
  { method: 'get', path: '/admin/users', id: 'adminFindUser', tag: 'Admin', summary: 'Look a user up by number', auth: 'admin', query: { phone: 'The number, in any form sign-in accepts (required).' }, answers: [[200, 'The user.', 'AdminUser']], problems: ['invalid_request', 'invalid_phone_number', 'invalid_token', 'not_found', ...DB] },
  { method: 'get', path: '/admin/users/{id}', id: 'adminGetUser', tag: 'Admin', summary: 'Look a user up by id', auth: 'admin', params: { id: 'The user id.' }, answers: [[200, 'The user.', 'AdminUser']], problems: ['invalid_token', 'not_found', ...DB] },
  { method: 'post', path: '/admin/users/{id}/disable', id: 'adminDisableUser', tag: 'Admin', summary: 'Disable a user', description: 'The user can no longer sign in, refresh or use `/me`; every session of theirs ends.', auth: 'admin', params: { id: 'The user id.' }, answers: [[200, 'The user, disabled.', 'AdminUser']], problems: ['invalid_token', 'not_found', ...DB] },
  { method: 'post', path: '/admin/users/{id}/enable', id: 'adminEnableUser', tag: 'Admin', summary: 'Enable a user', description: 'The user can sign in again; their old sessions stay ended.', auth: 'admin', params: { id: 'The user id.' }, answers: [[200, 'The user, enabled.', 'AdminUser']], problems: ['invalid_token', 'not_found', ...DB] },
  { method: 'get', path: '/admin/users/{id}/sessions', id: 'adminListSessions', tag: 'Admin', summary: 'A user\'s live sessions', auth: 'admin', params: { id: 'The user id.' }, answers: [[200, 'The live sessions.', 'AdminSessions']], problems: ['invalid_token', 'not_found', ...DB] },
  { method: 'delete', path: '/admin/users/{id}/sessions', id: 'adminEndSessions', tag: 'Admin', summary: 'End every session of a user', auth: 'admin', params: { id: 'The user id.' }, answers: [[200, 'How many ended.', 'SessionsEnded']], problems: ['invalid_token', 'not_found', ...DB] },
  { method: 'delete', path: '/admin/users/{id}/sessions/{sid}', id: 'adminEndSession', tag: 'Admin', summary: 'End one session of a user', auth: 'admin', params: { id: 'The user id.', sid: 'The session id.' }, answers: [[200, 'How many ended (0 or 1).', 'SessionsEnded']], problems: ['invalid_token', 'not_found', ...DB] },
]

const TAGS: { name: Tag; description: string }[] = [
  { name: 'Sign-in', description: 'A one-time code by SMS, exchanged for tokens.' },
  { name: 'Sessions', description: 'Refresh, logout, and the signed-in user. A session is one sign-in.' },
  { name: 'Tokens', description: 'Access tokens are EdDSA (Ed25519) JWTs; other services verify them with these keys.' },
  { name: 'Operations', description: 'Health, readiness, metrics, and this documentation.' },
  { name: 'Admin', description: 'The operator\'s back office: not served (404) unless `ADMIN_TOKEN` is set, and then only with that Bearer token.' },
]

const DESCRIPTION = `Phone-number sign-in with one-time SMS codes and EdDSA JWTs.

- **Trailing slash**: every path is served both with and without its trailing slash. The sign-in and
  session paths are written here with it, as the original clients send them.
- **Bodies** are JSON objects of at most ${MAX_BODY_BYTES / 1024} KiB; anything else is \`400\` (\`413\` when too large),
  code \`invalid_request\`, with \`invalid_params\` naming the fields.
- **Errors** are RFC 9457 problem details (\`application/problem+json\`) with a stable \`code\`; a path that
  does not exist answers \`404\` with code \`not_found\`. No error answers with a stack trace or an HTML page.
- **Tokens**: send the access token as \`Authorization: Bearer <access>\`. A missing, invalid or expired one is
  \`401 invalid_token\` with a \`WWW-Authenticate: Bearer\` header. The sign-in endpoints ignore any \`Authorization\` header.
- **Request ids**: send \`X-Request-Id\` (1–128 of \`A–Z a–z 0–9 _ . : -\`) to have it used in the logs; every answer
  carries one, yours or a generated one.
- **Browsers**: cross-origin calls work without credentials; \`Retry-After\` and \`X-Request-Id\` are exposed.`

// ---- Building ----

export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> }

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const toComponentRef: ConversionConfig['overrideRef'] = ({ referenceId }) => `#/components/schemas/${referenceId}`

/** Converts the valibot schemas to JSON Schema 2020-12 (OpenAPI 3.1's dialect), referring to each other by name. */
function componentSchemas(): Record<string, JsonSchema> {
  // Requests as the client sends them (conversion stops before any transformation); an action that
  // JSON Schema cannot express is left out rather than failing start-up (the tests compare both).
  const requests = toJsonSchemaDefs(REQUEST_BODIES, { target: 'draft-2020-12', typeMode: 'input', errorMode: 'ignore', overrideRef: toComponentRef })
  for (const [name, schema] of Object.entries(requests)) {
    Object.assign(schema, BODY_RULES[name as keyof typeof REQUEST_BODIES])
    const notes = FIELD_NOTES[name as keyof typeof REQUEST_BODIES]
    for (const [field, prop] of Object.entries(schema.properties ?? {})) {
      if (typeof prop === 'object' && notes[field]) prop.description = notes[field]
    }
  }
  const responses = toJsonSchemaDefs(RESPONSE_BODIES, { target: 'draft-2020-12', typeMode: 'output', errorMode: 'throw', overrideRef: toComponentRef })
  return { ...requests, ...responses }
}

const SECURITY: Record<NonNullable<Operation['auth']> | 'none', unknown[]> = {
  none: [],
  bearer: [{ bearerAuth: [] }],
  optional: [{}, { bearerAuth: [] }],
  admin: [{ adminToken: [] }],
  metrics: [{}, { metricsToken: [] }],
}

const RETRY_AFTER: ErrorCode[] = ['rate_limited', 'too_many_attempts', 'service_unavailable']

/** The statuses a code is answered with on an operation (errors.ts's usual one, and the overrides it allows). */
function statusesOf(code: ErrorCode, op: Operation): number[] {
  if (code === 'invalid_request' && op.body) return [400, 413]
  if (code === 'sms_delivery_failed') return [502, 503]
  return [CODES[code][0]]
}

function problemExample(code: ErrorCode, status: number) {
  const value: Record<string, unknown> = { type: problemType(code), title: CODES[code][1], status, detail: CODES[code][2], code }
  if (code === 'invalid_request' && status === 413) value.detail = `The request body is larger than ${MAX_BODY_BYTES} bytes.`
  else if (code === 'invalid_request') {
    value.detail = 'The request body is not valid: phone_number.'
    value.invalid_params = [{ name: 'phone_number', reason: 'required' }]
  }
  return { summary: `${code}`, value }
}

const REQUEST_ID_HEADER = { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } }

function problemResponse(status: number, codes: ErrorCode[]) {
  const headers: Record<string, unknown> = { ...REQUEST_ID_HEADER }
  if (codes.some((c) => RETRY_AFTER.includes(c))) headers['Retry-After'] = { $ref: '#/components/headers/Retry-After' }
  if (codes.includes('invalid_token')) headers['WWW-Authenticate'] = { $ref: '#/components/headers/WWW-Authenticate' }
  const code = codes.length === 1 ? { const: codes[0] } : { enum: codes }
  return {
    description: codes.map((c) => `\`${c}\`: ${status === 413 ? 'the body is too large.' : CODES[c][2]}`).join('\n\n'),
    headers,
    content: {
      'application/problem+json': {
        schema: { allOf: [ref('Problem'), { type: 'object', properties: { code } }] },
        examples: Object.fromEntries(codes.map((c) => [c, problemExample(c, status)])),
      },
    },
  }
}

function answer([status, description, body]: Answer) {
  const response: Record<string, unknown> = { description, headers: { ...REQUEST_ID_HEADER } }
  if (body?.includes('/')) response.content = { [body]: { schema: { type: 'string' } } }
  else if (body) response.content = { 'application/json': { schema: ref(body) } }
  return [String(status), response] as const
}

function operation(op: Operation) {
  const parameters: unknown[] = [{ $ref: '#/components/parameters/X-Request-Id' }]
  for (const [, key = ''] of op.path.matchAll(/\{(\w+)\}/g)) {
    parameters.push({ name: key, in: 'path', required: true, description: op.params?.[key], schema: { type: 'string' } })
  }
  for (const [name, description] of Object.entries(op.query ?? {})) {
    parameters.push({ name, in: 'query', required: false, description, schema: { type: 'string' } })
  }
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of [...(op.problems ?? []), 'internal_error' as const]) {
    for (const status of statusesOf(code, op)) byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  const responses: Record<string, unknown> = Object.fromEntries(op.answers.map(answer))
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    if (responses[String(status)]) throw new Error(`${op.id}: status ${status} is both an answer and a problem`)
    responses[String(status)] = problemResponse(status, codes)
  }
  return {
    operationId: op.id,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: SECURITY[op.auth ?? 'none'],
    parameters,
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref(op.body), example: REQUEST_EXAMPLES[op.body] } },
          },
        }
      : {}),
    responses,
  }
}

/** The whole document: built once, when the routes are created. */
export function buildOpenApiDocument(operations: Operation[] = OPERATIONS): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const op of operations) {
    const item = (paths[op.path] ??= {})
    if (item[op.method]) throw new Error(`${op.method.toUpperCase()} ${op.path} is documented twice`)
    item[op.method] = operation(op)
  }
  const usedTags = new Set(operations.map((op) => op.tag))
  return {
    openapi: '3.1.1',
    info: {
      title: 'NomiSafe Auth',
      version: '1',
      summary: 'Phone-number sign-in with one-time SMS codes and EdDSA JWTs.',
      description: DESCRIPTION,
    },
    servers: [{ url: '/', description: 'This service' }],
    tags: TAGS.filter((t) => usedTags.has(t.name)),
    paths,
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An access token from sign-in or refresh (EdDSA JWT, `token_type` `access`). Refresh tokens are refused here.',
        },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The deployment\'s `ADMIN_TOKEN`. Without that setting the admin API is not served (404).' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'The deployment\'s `METRICS_TOKEN`, when it sets one.' },
      },
      parameters: {
        'X-Request-Id': {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'Your id for this request, used in the logs and returned; one is generated when absent or malformed.',
          schema: { type: 'string', pattern: '^[\\w.:-]{1,128}$' },
        },
      },
      headers: {
        'X-Request-Id': { description: 'The request id: the one sent, or a generated UUID.', schema: { type: 'string' } },
        'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 1 } },
        'WWW-Authenticate': {
          description: 'The Bearer challenge: `Bearer realm="nomisafe", error="invalid_token"`.',
          schema: { type: 'string' },
        },
      },
    },
  }
}
