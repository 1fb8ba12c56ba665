// Upload one file with tus-js-client's Node API and print {"url": ...} as one JSON line.
//
//   node upload_plain.js FILE ENDPOINT '{"parallelUploads": 4, "chunkSize": 1048576}'
//
// The third argument is merged into tus-js-client's options (parallelUploads, chunkSize, metadata...).
'use strict'

const fs = require('fs')
const path = require('path')
const tus = require('tus-js-client')

const [file, endpoint, optionsJson] = process.argv.slice(2)
if (!file || !endpoint) {
  console.error("usage: node upload_plain.js FILE ENDPOINT ['{json options}']")
  process.exit(2)
}
const extra = optionsJson ? JSON.parse(optionsJson) : {}
const buffer = fs.readFileSync(file)

const upload = new tus.Upload(buffer, {
  endpoint,
  metadata: { filename: path.basename(file), filetype: 'application/octet-stream' },
  retryDelays: [0, 200, 1000],
  removeFingerprintOnSuccess: true,
  ...extra,
  onError (error) {
    console.error(`upload failed: ${error}`)
    process.exit(1)
  },
  onSuccess () {
    console.log(JSON.stringify({ url: upload.url }))
  }
})
upload.start()
