// Upload one file with tus-js-client, always sending the newest X-New-Token the server returned.
//
//   TUS_TOKEN=<jwt> node upload_rotating.js FILE ENDPOINT
//
// Optional env: CHUNK_SIZE (bytes, default 1 MiB), DELAY_MS (pause before each request, a crude
// throttle so the upload outlives the token lifetime). Prints one JSON line:
// {"url": ..., "requests": N, "rotations": N}. Never prints a token.
'use strict'

const fs = require('fs')
const tus = require('tus-js-client')

const [file, endpoint] = process.argv.slice(2)
let token = process.env.TUS_TOKEN
if (!file || !endpoint || !token) {
  console.error('usage: TUS_TOKEN=<jwt> node upload_rotating.js FILE ENDPOINT')
  process.exit(2)
}
const chunkSize = Number(process.env.CHUNK_SIZE || 1024 * 1024)
const delayMs = Number(process.env.DELAY_MS || 0)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

let requests = 0
let rotations = 0
const upload = new tus.Upload(fs.createReadStream(file, { highWaterMark: chunkSize }), {
  endpoint,
  chunkSize,
  uploadSize: fs.statSync(file).size,
  metadata: { filename: require('path').basename(file) },
  retryDelays: null, // a rejected token must fail this script, not be retried away
  async onBeforeRequest (req) {
    if (delayMs > 0 && requests > 0) await sleep(delayMs)
    requests += 1
    req.setHeader('Authorization', `Bearer ${token}`)
  },
  onAfterResponse (req, res) {
    const fresh = res.getHeader('X-New-Token')
    if (fresh && fresh !== token) {
      token = fresh
      rotations += 1
    }
  },
  onError (error) {
    console.error(`upload failed: ${error.message || error}`)
    process.exit(1)
  },
  onSuccess () {
    console.log(JSON.stringify({ url: upload.url, requests, rotations }))
  }
})
upload.start()
