// tusserver-token: keep a tus upload authorised with tusserver's short-lived, rotated tokens.
//
//   import { rotatingToken } from 'tusserver-token'
//   const auth = rotatingToken({ getToken: () => fetch('/api/upload-token', { method: 'POST' }).then((r) => r.text()) })
//   new tus.Upload(file, { endpoint, ...auth })        // or uppy.use(Tus, { endpoint, ...auth })
//
// The server answers every accepted request with a fresh token in `X-New-Token` that lives
// `--token-ttl` seconds. This module always sends the newest token it holds, asks your platform
// (`getToken`) for a new one before a request when the held one is about to expire, and turns a 401
// into "get a token, then retry on the same upload URL". tus-js-client 4 (and Uppy, which runs it)
// treats any 4xx answer to the resume HEAD as "this upload is gone", forgets the URL and starts again
// from byte 0; so on a 401 `onAfterResponse` throws instead of letting the response through, which
// tus-js-client reports as a failed request and retries (HEAD, then PATCH from the stored offset).
//
// No dependencies; works in browsers and in Node 18+. Tokens are decoded (never verified) only to read
// `exp` and `iat`: the server is the one that checks them.

/**
 * A request as tus-js-client's HTTP stack shows it to `onBeforeRequest` / `onAfterResponse`.
 * @typedef {{ setHeader(name: string, value: string): void, getHeader?(name: string): string | undefined }} TusRequest
 */
/**
 * A response as tus-js-client's HTTP stack shows it to `onAfterResponse`.
 * @typedef {{ getStatus(): number, getHeader(name: string): string | undefined | null }} TusResponse
 */
/**
 * @typedef {object} RotatingTokenOptions
 * @property {() => string | Promise<string>} getToken Asks your platform for a new token (the first one,
 *   and again whenever the server refuses the held one, e.g. after a pause longer than the token's life).
 * @property {number} [refreshBefore=10] Seconds before the held token's `exp` at which a new one is fetched
 *   before sending a request. Capped at half the token's lifetime (`exp - iat`), so a server with a very
 *   short `--token-ttl` still uses its rotated tokens rather than calling `getToken` before every request.
 */
/**
 * What to spread into tus-js-client's `Upload` options or `@uppy/tus`'s options. Only the three hooks
 * are enumerable, so `{ ...auth }` copies exactly them; `fetch` and `token` are there for your own calls
 * (a download, a DELETE) and for tests.
 * @typedef {object} RotatingToken
 * @property {(req: TusRequest) => Promise<void>} onBeforeRequest
 * @property {(req: TusRequest, res: TusResponse) => void} onAfterResponse
 * @property {(err: any, retryAttempt?: number, options?: any, fallback?: (err: any) => boolean) => boolean} onShouldRetry
 * @property {(input: string | URL | Request, init?: RequestInit) => Promise<Response>} fetch `fetch` with the
 *   newest token, taking `X-New-Token` from the answer and retrying once with a new token after a 401.
 * @property {string | null} token The newest token held (read-only).
 */

/** A request was refused for its token (401), or no token could be had: retry once a new one is in. */
export class TokenError extends Error {
  /**
   * @param {string} message
   * @param {TusRequest | null} request the tus request, so tus-js-client's retry logic accepts the error
   * @param {unknown} [cause]
   */
  constructor (message, request, cause) {
    super(message)
    this.name = 'TokenError'
    // tus-js-client only retries errors that carry the request they came from.
    this.originalRequest = request
    this.originalResponse = null
    if (cause !== undefined) this.cause = cause
  }
}

/**
 * @param {RotatingTokenOptions} options
 * @returns {RotatingToken}
 */
export function rotatingToken ({ getToken, refreshBefore = 10 } = /** @type {any} */ ({})) {
  if (typeof getToken !== 'function') {
    throw new TypeError('rotatingToken: getToken must be a function returning a token or a promise of one')
  }
  /** @type {string | null} */ let token = null
  let expiresAt = 0 // the held token's exp (s since the epoch); 0: unknown, trust it until refused
  let issuedAt = 0 // its iat, or when it arrived: how "newest" is told apart in parallel answers
  let lifetime = 0 // exp - iat, to cap refreshBefore
  let refused = false // the server refused the held token: get another before the next request
  /** @type {Promise<string> | null} */ let refreshing = null // the one refresh in flight, shared by all

  const now = () => Date.now() / 1000

  /** @param {string} fresh @param {boolean} fromPlatform */
  function hold (fresh, fromPlatform) {
    const claims = decodeClaims(fresh)
    const iat = claims && typeof claims.iat === 'number' ? claims.iat : Math.floor(now())
    // Answers of parallel requests arrive in any order: a token issued before the held one is older.
    if (!fromPlatform && token !== null && !refused && iat < issuedAt) return
    token = fresh
    issuedAt = iat
    expiresAt = claims && typeof claims.exp === 'number' ? claims.exp : 0
    lifetime = expiresAt && claims && typeof claims.iat === 'number' ? expiresAt - claims.iat : 0
    refused = false
  }

  function refresh () {
    if (refreshing === null) {
      refreshing = Promise.resolve()
        .then(() => getToken())
        .then((fresh) => {
          if (typeof fresh !== 'string' || fresh.trim() === '') throw new Error('getToken() gave no token')
          hold(fresh.trim(), true)
          return fresh.trim()
        })
        .finally(() => { refreshing = null })
    }
    return refreshing
  }

  function needsRefresh () {
    if (token === null || refused) return true
    if (!expiresAt) return false
    const margin = lifetime > 0 ? Math.min(refreshBefore, lifetime / 2) : refreshBefore
    return expiresAt - now() < margin
  }

  /** The token to send now: the held one, or a new one when it is refused or about to expire. */
  async function current () {
    if (refreshing !== null) await refreshing
    if (needsRefresh()) await refresh()
    return /** @type {string} */ (token)
  }

  /** The server refused `sent`; if it is still the one held, the next request gets a new one. */
  function refuse (/** @type {string | null | undefined} */ sent) {
    if (!sent || sent === token) refused = true
  }

  /** @param {TusRequest} req */
  async function onBeforeRequest (req) {
    let value
    try {
      value = await current()
    } catch (cause) {
      throw new TokenError(`could not get a token: ${cause}`, req, cause)
    }
    req.setHeader('Authorization', `Bearer ${value}`)
  }

  /** @param {TusRequest} req @param {TusResponse} res */
  function onAfterResponse (req, res) {
    const fresh = res.getHeader('X-New-Token')
    if (fresh) hold(fresh, false)
    if (res.getStatus() === 401) {
      refuse(bearer(req.getHeader ? req.getHeader('Authorization') : undefined))
      // Thrown, not returned: tus-js-client would take a 401 on the resume HEAD for "upload gone" and
      // start a new upload from byte 0. A thrown error is retried (onShouldRetry) on the same URL.
      throw new TokenError('the server refused the token (401); retrying with a new one', req)
    }
  }

  /**
   * tus-js-client's rule (retry unless 4xx other than 409/423, and not offline), plus: retry token errors.
   * `fallback` is Uppy's own rule (it keeps Uppy's request queue in order); used when given.
   * @param {any} err @param {number} [_attempt] @param {any} [_options] @param {(err: any) => boolean} [fallback]
   */
  function onShouldRetry (err, _attempt, _options, fallback) {
    const tokenProblem = err instanceof TokenError || (err && err.causingError instanceof TokenError)
    if (typeof fallback === 'function') {
      const retry = fallback(err) // Uppy requeues the request here; a token error has no status: retried
      return tokenProblem || retry
    }
    if (tokenProblem) return true
    const status = err && err.originalResponse ? err.originalResponse.getStatus() : 0
    const online = typeof navigator === 'undefined' || navigator.onLine !== false
    return (status < 400 || status >= 500 || status === 409 || status === 423) && online
  }

  /** @param {string | URL | Request} input @param {RequestInit} [init] */
  async function authFetch (input, init = {}) {
    for (let attempt = 0; ; attempt++) {
      const value = await current()
      const headers = new Headers(init.headers)
      headers.set('Authorization', `Bearer ${value}`)
      const res = await fetch(input, { ...init, headers })
      const fresh = res.headers.get('X-New-Token')
      if (fresh) hold(fresh, false)
      if (res.status !== 401 || attempt > 0) return res
      refuse(value)
    }
  }

  const hooks = { onBeforeRequest, onAfterResponse, onShouldRetry }
  Object.defineProperty(hooks, 'fetch', { value: authFetch, enumerable: false })
  Object.defineProperty(hooks, 'token', { get: () => token, enumerable: false })
  return /** @type {RotatingToken} */ (/** @type {unknown} */ (hooks))
}

/** @param {string | null | undefined} header */
function bearer (header) {
  return header && header.startsWith('Bearer ') ? header.slice(7) : undefined
}

/**
 * The claims of a JWT, unverified; null when it is not one.
 * @param {string} jwt
 * @returns {Record<string, unknown> | null}
 */
export function decodeClaims (jwt) {
  const part = jwt.split('.')[1]
  if (!part) return null
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4)
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
    const claims = JSON.parse(new TextDecoder().decode(bytes))
    return claims && typeof claims === 'object' ? claims : null
  } catch {
    return null
  }
}
