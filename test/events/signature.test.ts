import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { retryWaitSeconds } from '../../src/events/outbox.ts'
import { signWebhook, webhookSigningKey } from '../../src/events/signature.ts'

describe('Standard Webhooks signature', () => {
  it('matches the published example (Svix / Standard Webhooks documentation)', async () => {
    const key = await webhookSigningKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')
    const signature = await signWebhook(key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  })
})

describe('retry schedule', () => {
  it('retries first within 10 s, then doubles the wait up to 5 minutes', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50, 10_000].map(retryWaitSeconds)).toEqual([5, 10, 20, 40, 80, 160, 300, 300, 300, 300])
  })
})

describe('EVENTS_* settings', () => {
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`

  it('are off by default', () => {
    expect(loadConfig({}).events).toBeUndefined()
  })

  it('need EVENTS_WEBHOOK_SECRET when EVENTS_WEBHOOK_URL is set', () => {
    expect(() => loadConfig({ EVENTS_WEBHOOK_URL: 'https://api.example.com/hooks' })).toThrow(
      'EVENTS_WEBHOOK_SECRET: is required when EVENTS_WEBHOOK_URL is set',
    )
    expect(loadConfig({ EVENTS_WEBHOOK_URL: 'https://api.example.com/hooks', EVENTS_WEBHOOK_SECRET: secret }).events).toEqual({
      webhookUrl: 'https://api.example.com/hooks',
      webhookSecret: secret,
    })
  })

  it('refuse a secret that is not whsec_ + base64 of 24 to 64 bytes, and a URL that is not http(s)', () => {
    const url = 'https://api.example.com/hooks'
    for (const bad of ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_not base64!', `whsec_${Buffer.alloc(16).toString('base64')}`, `whsec_${Buffer.alloc(65).toString('base64')}`]) {
      expect(() => loadConfig({ EVENTS_WEBHOOK_URL: url, EVENTS_WEBHOOK_SECRET: bad }), bad).toThrow(/^EVENTS_WEBHOOK_SECRET: must be whsec_/)
    }
    expect(() => loadConfig({ EVENTS_WEBHOOK_URL: 'ftp://x.example', EVENTS_WEBHOOK_SECRET: secret })).toThrow(/^EVENTS_WEBHOOK_URL: /)
  })
})
