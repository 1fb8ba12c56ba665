// Unit checks of clients/js/tusserver-token.mjs with fake tus requests (node --test): the rules that a
// browser run shows only by luck of timing. Run by tests/browser/test_token_helper.py.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { TokenError, rotatingToken } from '../../clients/js/tusserver-token.mjs'

const now = () => Math.floor(Date.now() / 1000)
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
const jwt = (claims) => `${b64({ alg: 'HS256' })}.${b64(claims)}.sig`
const token = (name, { iat = now(), ttl = 30 } = {}) => jwt({ sub: name, iat, exp: iat + ttl })

function request () {
  const headers = {}
  return { headers, setHeader: (k, v) => { headers[k] = v }, getHeader: (k) => headers[k] }
}
const response = (status, newToken) => ({ getStatus: () => status, getHeader: (k) => (k === 'X-New-Token' ? newToken : undefined) })

test('parallel requests share one getToken call', async () => {
  let calls = 0
  const auth = rotatingToken({
    getToken: async () => { calls += 1; await new Promise((resolve) => setTimeout(resolve, 20)); return token('p') }
  })
  const reqs = [request(), request(), request(), request()]
  await Promise.all(reqs.map((r) => auth.onBeforeRequest(r)))
  assert.equal(calls, 1)
  assert.equal(new Set(reqs.map((r) => r.headers.Authorization)).size, 1)
})

test('the newest X-New-Token wins whatever order answers arrive in', async () => {
  const auth = rotatingToken({ getToken: () => token('p', { iat: now() - 20 }) })
  await auth.onBeforeRequest(request())
  const newer = token('newer', { iat: now() })
  const older = token('older', { iat: now() - 10 })
  auth.onAfterResponse(request(), response(204, newer))
  auth.onAfterResponse(request(), response(204, older))
  assert.equal(auth.token, newer)
  const next = request()
  await auth.onBeforeRequest(next)
  assert.equal(next.headers.Authorization, `Bearer ${newer}`)
})

test('a token about to expire is replaced before the request, a fresh one is not', async () => {
  let calls = 0
  const tokens = [token('a', { iat: now() - 25, ttl: 30 }), token('b')]
  const auth = rotatingToken({ getToken: () => tokens[calls++] })
  await auth.onBeforeRequest(request()) // gets "a" (the platform's word: sent as it is)
  assert.equal(calls, 1)
  await auth.onBeforeRequest(request()) // "a" has 5 s left, within refreshBefore 10 s: replaced
  assert.equal(calls, 2)
  await auth.onBeforeRequest(request()) // "b" has 30 s left: kept
  assert.equal(calls, 2)
})

test('with a 3 s token life the margin is 1.5 s, so rotation carries the upload', async () => {
  let calls = 0
  const auth = rotatingToken({ getToken: () => { calls += 1; return token('short', { ttl: 3 }) } })
  await auth.onBeforeRequest(request())
  await auth.onBeforeRequest(request())
  assert.equal(calls, 1)
})

test('a 401 throws a retryable TokenError and the next request gets a new token', async () => {
  let calls = 0
  const auth = rotatingToken({ getToken: () => token(`t${++calls}`) })
  const req = request()
  await auth.onBeforeRequest(req)
  assert.throws(() => auth.onAfterResponse(req, response(401)), TokenError)
  let thrown
  try { auth.onAfterResponse(req, response(401)) } catch (err) { thrown = err }
  assert.equal(thrown.originalRequest, req) // tus-js-client retries only errors that carry their request
  assert.equal(auth.onShouldRetry(thrown, 0, {}), true)
  assert.equal(auth.onShouldRetry({ causingError: thrown, originalRequest: req }, 0, {}), true) // wrapped by tus-js-client
  const next = request()
  await auth.onBeforeRequest(next)
  assert.equal(calls, 2)
  assert.notEqual(next.headers.Authorization, req.headers.Authorization)
})

test('a 401 for a token already replaced does not throw the new one away', async () => {
  let calls = 0
  const auth = rotatingToken({ getToken: () => token(`t${++calls}`, { iat: now() - 1 }) })
  const old = request()
  await auth.onBeforeRequest(old)
  auth.onAfterResponse(request(), response(204, token('rotated')))
  assert.throws(() => auth.onAfterResponse(old, response(401)), TokenError)
  await auth.onBeforeRequest(request())
  assert.equal(calls, 1)
})

test('other errors follow tus-js-client rules, or Uppy\'s when given', () => {
  const auth = rotatingToken({ getToken: () => token('x') })
  const err = (status) => ({ originalRequest: request(), originalResponse: response(status) })
  assert.equal(auth.onShouldRetry(err(500)), true)
  assert.equal(auth.onShouldRetry(err(423)), true)
  assert.equal(auth.onShouldRetry(err(403)), false)
  assert.equal(auth.onShouldRetry(err(404)), false)
  assert.equal(auth.onShouldRetry(err(500), 0, {}, () => false), false) // Uppy's rule decides
  assert.equal(auth.onShouldRetry(new TokenError('x', request()), 0, {}, () => false), true)
})

test('only the three hooks are spread into tus options', () => {
  const auth = rotatingToken({ getToken: () => token('x') })
  assert.deepEqual(Object.keys({ ...auth }).sort(), ['onAfterResponse', 'onBeforeRequest', 'onShouldRetry'])
  assert.equal(typeof auth.fetch, 'function')
  assert.throws(() => rotatingToken({}), TypeError)
})

test('auth.fetch sends the token, rotates, and retries once after a 401', async () => {
  let calls = 0
  const auth = rotatingToken({ getToken: () => token(`t${++calls}`) })
  const seen = []
  const rotated = token('rotated', { iat: now() + 1 })
  const realFetch = globalThis.fetch
  globalThis.fetch = async (url, init) => {
    seen.push(init.headers.get('Authorization'))
    const status = seen.length === 1 ? 401 : 200
    return new Response('ok', { status, headers: status === 200 ? { 'X-New-Token': rotated } : {} })
  }
  try {
    const res = await auth.fetch('http://tus.test/files/x')
    assert.equal(res.status, 200)
  } finally {
    globalThis.fetch = realFetch
  }
  assert.equal(calls, 2)
  assert.notEqual(seen[0], seen[1])
  assert.equal(auth.token, rotated)
})
