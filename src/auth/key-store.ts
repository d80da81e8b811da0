import { calculateJwkThumbprint, type JWK } from 'jose'
import type { Clock } from '../clock.ts'
import type { Db } from '../store/connect.ts'
import { deleteKeysRetiredBefore, insertSignerIfNone, listLiveKeys, makeSigner, type StoredKey } from '../store/signing-keys.ts'
import { seal, unseal } from './seal.ts'

export interface PublicJwk extends JWK {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  kid: string
  alg: 'EdDSA'
  use: 'sig'
}

export interface Signer {
  kid: string
  privateKey: CryptoKey
}

/**
 * Ed25519 signing keys, kept in the database so every instance signs and verifies with the same
 * ones. This process only caches them: the cache is re-read after `reloadSeconds`, and at once
 * (at most every few seconds) when a token names a kid it has not seen, so a key another
 * instance rotated in is picked up without a restart.
 */
export interface KeyStore {
  signer(): Promise<Signer>
  /** The public key for `kid`, or undefined when no live key has that id. */
  publicKey(kid: string): Promise<CryptoKey | undefined>
  /** Every public key that may have signed a live token, for /.well-known/jwks.json. */
  jwks(): Promise<{ keys: PublicJwk[] }>
}

interface LoadedKey {
  jwk: PublicJwk
  publicKey: CryptoKey
  stored: StoredKey
  privateKey?: Promise<CryptoKey>
}

export interface KeyStoreOptions {
  db: Db
  clock: Clock
  keyEncryptionKey: CryptoKey
  /** The longest a token lives: a retired key stays published this long. */
  maxTokenLifetimeSeconds: number
  reloadSeconds?: number
  /** A private Ed25519 key from the environment (PKCS#8 PEM or JWK): made the signer at start-up. */
  providedKey?: string
}

const ED25519 = { name: 'Ed25519' } as const
const UNKNOWN_KID_RELOAD_MS = 5000

export async function createKeyStore(opts: KeyStoreOptions): Promise<KeyStore> {
  const { db, clock, keyEncryptionKey } = opts
  const reloadMs = (opts.reloadSeconds ?? 60) * 1000
  let keys = new Map<string, LoadedKey>()
  let loadedAt = 0

  async function load(): Promise<void> {
    const stored = await listLiveKeys(db, clock.now(), opts.maxTokenLifetimeSeconds)
    const next = new Map<string, LoadedKey>()
    for (const s of stored) {
      const known = keys.get(s.kid)
      if (known) {
        next.set(s.kid, { ...known, stored: s })
        continue
      }
      const jwk = JSON.parse(s.publicJwk) as PublicJwk
      next.set(s.kid, { jwk, stored: s, publicKey: await crypto.subtle.importKey('jwk', jwk, ED25519, true, ['verify']) })
    }
    keys = next
    loadedAt = clock.now().getTime()
  }

  async function fresh(): Promise<Map<string, LoadedKey>> {
    if (clock.now().getTime() - loadedAt >= reloadMs) await load()
    return keys
  }

  function currentSigner(map: Map<string, LoadedKey>): LoadedKey | undefined {
    for (const k of map.values()) if (k.stored.activatedAt && !k.stored.retiredAt) return k
    return undefined
  }

  if (opts.providedKey) await makeSigner(db, await sealKey(keyEncryptionKey, await importProvidedKey(opts.providedKey), clock.now()))
  await load()
  if (!currentSigner(keys)) {
    await insertSignerIfNone(db, await generateKey(keyEncryptionKey, clock.now()))
    await load()
  }

  const store: KeyStore = {
    async signer() {
      let k = currentSigner(await fresh())
      if (!k) {
        // Another instance may have rotated since the last load: look again before giving up.
        await load()
        k = currentSigner(keys)
      }
      if (!k) throw new Error('no signing key is active')
      k.privateKey ??= decryptPrivateKey(keyEncryptionKey, k.stored.kid, k.stored.privateKeyEnc)
      return { kid: k.stored.kid, privateKey: await k.privateKey }
    },
    async publicKey(kid) {
      const hit = (await fresh()).get(kid)
      if (hit) return hit.publicKey
      if (clock.now().getTime() - loadedAt < UNKNOWN_KID_RELOAD_MS) return undefined
      await load()
      return keys.get(kid)?.publicKey
    },
    async jwks() {
      return { keys: [...(await fresh()).values()].map((k) => k.jwk) }
    },
  }
  // Decrypt the signer now: a wrong SERVER_SECRET stops start-up instead of failing sign-ins.
  await store.signer()
  return store
}

/**
 * Makes a new key the signer. The old one stays published until every token it signed has
 * expired; keys past that are dropped. Instances pick the new key up within their reload time.
 */
export async function rotateSigningKey(opts: Pick<KeyStoreOptions, 'db' | 'clock' | 'keyEncryptionKey' | 'maxTokenLifetimeSeconds'>) {
  const now = opts.clock.now()
  const key = await generateKey(opts.keyEncryptionKey, now)
  await makeSigner(opts.db, key)
  const dropped = await deleteKeysRetiredBefore(opts.db, new Date(now.getTime() - opts.maxTokenLifetimeSeconds * 1000))
  return { kid: key.kid, dropped }
}

/** A new random Ed25519 key, sealed for storage. */
export async function generateKey(kek: CryptoKey, now: Date) {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair
  return sealKey(kek, pair.privateKey, now)
}

async function sealKey(kek: CryptoKey, privateKey: CryptoKey, now: Date) {
  // An Ed25519 private JWK carries its public half (x) too.
  const { x } = (await crypto.subtle.exportKey('jwk', privateKey)) as JWK
  if (!x) throw new Error('the Ed25519 key has no public part')
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x })
  const publicJwk: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', privateKey)
  return { kid, publicJwk: JSON.stringify(publicJwk), privateKeyEnc: await seal(kek, pkcs8, `signing-key:${kid}`), now }
}

/** Reads JWT_PRIVATE_KEY: a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or an Ed25519 private JWK. */
export async function importProvidedKey(text: string): Promise<CryptoKey> {
  // Environment files often carry a PEM on one line with literal \n escapes.
  const trimmed = text.trim().replaceAll('\\n', '\n')
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as JWK
      if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d || !jwk.x) throw new Error('not an Ed25519 private JWK')
      return await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x }, ED25519, true, ['sign'])
    }
    const body = trimmed.match(/-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/)?.[1]
    if (!body) throw new Error('not a PKCS#8 PEM')
    const der = Uint8Array.from(atob(body.replace(/\s+/g, '')), (ch) => ch.charCodeAt(0))
    return await crypto.subtle.importKey('pkcs8', der, ED25519, true, ['sign'])
  } catch {
    throw new Error('JWT_PRIVATE_KEY: must be an Ed25519 private key as PKCS#8 PEM or JWK')
  }
}

// The kid is bound in, so a sealed key can't be swapped onto another row.
async function decryptPrivateKey(kek: CryptoKey, kid: string, sealed: string): Promise<CryptoKey> {
  const pkcs8 = await unseal(kek, sealed, `signing-key:${kid}`).catch(() => {
    throw new Error('cannot decrypt the stored signing key: SERVER_SECRET differs from the one it was stored with')
  })
  return crypto.subtle.importKey('pkcs8', pkcs8, ED25519, false, ['sign'])
}
