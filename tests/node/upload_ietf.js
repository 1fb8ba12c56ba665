// Upload one file with tus-js-client speaking the IETF draft, abort it mid-request, resume it on the
// same URL, and print one JSON line: {"url", "abortedAt", "resumedFrom", "rotations", "requests": [[method, status, interop]]}.
//
//   PROTOCOL=ietf-draft-05 node upload_ietf.js FILE ENDPOINT
//
// Optional env:
//   CHUNK_SIZE  bytes per PATCH (default 4 MiB)
//   ABORT_AT    abort the upload once this many bytes were sent (default: half the file)
//   TUS_TOKEN   a JWT; every request sends the newest X-New-Token received instead (never printed)
'use strict'

const fs = require('fs')
const path = require('path')
const tus = require('tus-js-client')

const [file, endpoint] = process.argv.slice(2)
const protocol = process.env.PROTOCOL
if (!file || !endpoint || !protocol) {
  console.error('usage: PROTOCOL=ietf-draft-03|ietf-draft-05 node upload_ietf.js FILE ENDPOINT')
  process.exit(2)
}
const buffer = fs.readFileSync(file)
const chunkSize = Number(process.env.CHUNK_SIZE || 4 * 1024 * 1024)
const abortAt = Number(process.env.ABORT_AT || buffer.length / 2)
let token = process.env.TUS_TOKEN
const requests = []
let rotations = 0

function options (extra) {
  return {
    protocol,
    chunkSize,
    metadata: { filename: path.basename(file) },
    retryDelays: [0, 200, 1000],
    onBeforeRequest (req) {
      if (token) req.setHeader('Authorization', `Bearer ${token}`)
    },
    onAfterResponse (req, res) {
      requests.push([req.getMethod(), res.getStatus(), res.getHeader('Upload-Draft-Interop-Version') || null])
      const fresh = res.getHeader('X-New-Token')
      if (fresh) {
        token = fresh
        rotations += 1
      }
    },
    ...extra
  }
}

function fail (error) {
  console.error(`upload failed: ${error}`)
  process.exit(1)
}

function firstPart () {
  return new Promise((resolve) => {
    const upload = new tus.Upload(buffer, options({
      endpoint,
      onError: fail,
      onSuccess () { fail(new Error(`finished before the abort at ${abortAt} bytes`)) },
      onProgress (sent) {
        if (sent >= abortAt && !upload._aborted) {
          upload.abort().then(() => resolve({ url: upload.url, abortedAt: sent }))
        }
      }
    }))
    upload.start()
  })
}

function resume (url) {
  return new Promise((resolve) => {
    let resumedFrom = null
    const upload = new tus.Upload(buffer, options({
      uploadUrl: url,
      onError: fail,
      onAfterResponse (req, res) {
        options().onAfterResponse(req, res)
        if (req.getMethod() === 'HEAD' && resumedFrom === null) resumedFrom = Number(res.getHeader('Upload-Offset'))
      },
      onSuccess () { resolve({ url: upload.url, resumedFrom }) }
    }))
    upload.start()
  })
}

firstPart()
  .then(({ url, abortedAt }) => resume(url).then(({ resumedFrom }) => {
    console.log(JSON.stringify({ url, abortedAt, resumedFrom, rotations, requests }))
  }))
  .catch(fail)
