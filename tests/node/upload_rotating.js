// Upload one file with tus-js-client, always sending the newest X-New-Token the server returned.
//
//   TUS_TOKEN=<jwt> node upload_rotating.js FILE ENDPOINT
//
// Optional env:
//   CHUNK_SIZE     bytes per PATCH (default 1 MiB)
//   DELAY_MS       pause before each request: a crude throttle so the upload outlives the token
//   TOKEN_COMMAND  JSON argv run for a new token after a 401 (like a call to your backend)
//   STALL_AT       before request number STALL_AT, go idle until the server refuses the token held
//                  (polled with HEAD, 20 s at most), to exercise the 401 → new token → resume path
// Prints one JSON line: {"url": ..., "requests": N, "rotations": N, "refreshes": N}. Never a token.
'use strict'

const fs = require('fs')
const path = require('path')
const { execFileSync } = require('child_process')
const tus = require('tus-js-client')

const [file, endpoint] = process.argv.slice(2)
let token = process.env.TUS_TOKEN
if (!file || !endpoint || !token) {
  console.error('usage: TUS_TOKEN=<jwt> node upload_rotating.js FILE ENDPOINT')
  process.exit(2)
}
const chunkSize = Number(process.env.CHUNK_SIZE || 1024 * 1024)
const delayMs = Number(process.env.DELAY_MS || 0)
const tokenCommand = process.env.TOKEN_COMMAND ? JSON.parse(process.env.TOKEN_COMMAND) : null
const stallAt = Number(process.env.STALL_AT || 0)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function idleUntilTokenRefused () {
  const deadline = Date.now() + 20000
  while (Date.now() < deadline) {
    const res = await fetch(upload.url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` } })
    if (res.status === 401) return
    await sleep(200)
  }
  throw new Error('the held token was still accepted after 20 s')
}

function fetchNewToken () {
  if (!tokenCommand) throw new Error('token rejected and no TOKEN_COMMAND to get a new one')
  return execFileSync(tokenCommand[0], tokenCommand.slice(1), { encoding: 'utf8' }).trim()
}

let requests = 0
let rotations = 0
let refreshes = 0
let expired = false
const upload = new tus.Upload(fs.createReadStream(file, { highWaterMark: chunkSize }), {
  endpoint,
  chunkSize,
  uploadSize: fs.statSync(file).size,
  metadata: { filename: path.basename(file) },
  retryDelays: tokenCommand ? [0, 500, 1000] : null, // without a way to get tokens, a 401 must fail
  async onBeforeRequest (req) {
    if (delayMs > 0 && requests > 0) await sleep(delayMs)
    requests += 1
    if (requests === stallAt) await idleUntilTokenRefused()
    if (expired) {
      token = fetchNewToken()
      expired = false
      refreshes += 1
    }
    req.setHeader('Authorization', `Bearer ${token}`)
  },
  onAfterResponse (req, res) {
    const fresh = res.getHeader('X-New-Token')
    if (fresh && fresh !== token) {
      token = fresh
      rotations += 1
    }
    if (res.getStatus() === 401) expired = true
  },
  onShouldRetry (err) {
    const status = err.originalResponse ? err.originalResponse.getStatus() : 0
    return status === 0 || status === 401 || status === 409 || status === 423 || status >= 500
  },
  onError (error) {
    console.error(`upload failed: ${error.message || error}`)
    process.exit(1)
  },
  onSuccess () {
    // Exit explicitly: an idle keep-alive socket or the read stream would keep Node running.
    process.stdout.write(JSON.stringify({ url: upload.url, requests, rotations, refreshes }) + '\n', () => process.exit(0))
  }
})
upload.start()
