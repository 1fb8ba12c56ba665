// Drives Chromium (playwright-core, Debian's /usr/bin/chromium) through one browser case and prints one
// JSON line with what happened on the network, for tests/browser/test_browser.py to check against the
// bytes on the server's disk.
//
//   node tests/browser/harness.mjs '<job json>'
//
// Cases "single", "parallel", "uppy", "pause", "reload", "outage" run one of the README's code blocks
// (job.block, read from README.md, only the endpoint and chunk size replaced) in a test page served from
// loopback by this script, which also plays "your backend": POST /api/upload-token mints an HS256 token
// with the job's secret. tus-js-client and Uppy come from tests/node/node_modules, bundled by esbuild at
// start (no network); an import map gives the blocks their bare imports. Case "demo" opens the server's
// own --demo page instead. On failure a screenshot goes to job.screenshots.
//
// The upload is slowed with Chromium's own network throttling (DevTools upload throughput), so it
// outlives several --token-ttl tokens without any pacing code in the README's blocks.
import { createHmac, createHash } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '..', '..')
const nodeDir = join(root, 'tests', 'node')
const require = createRequire(join(nodeDir, 'package.json'))
const { chromium } = require('playwright-core')
const esbuild = require('esbuild')

const job = JSON.parse(process.argv[2])
const log = (...args) => process.stderr.write(args.join(' ') + '\n')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const DEADLINE_MS = job.deadlineMs || 90000

// ---- "your backend": tokens --------------------------------------------------------------------------
let tokensMinted = 0
function mint () {
  tokensMinted += 1
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: job.sub || 'alice', iat: now, exp: now + 60 })}`
  return `${body}.${createHmac('sha256', job.secret).update(body).digest('base64url')}`
}

// ---- the README's blocks -----------------------------------------------------------------------------
function readmeBlock (name) {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const found = readme.match(new RegExp(`<!-- tested by tests/browser as "${name}"[^>]*-->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``))
  if (!found) throw new Error(`README.md has no block marked tested by tests/browser as "${name}"`)
  let code = found[1]
  for (const [from, to] of job.replace || []) {
    if (!code.includes(from)) throw new Error(`README block "${name}" no longer contains ${JSON.stringify(from)}`)
    code = code.split(from).join(to)
  }
  // Let the test reach the block's objects (to pause, to read the token held).
  const names = ['upload', 'uppy', 'auth'].filter((n) => new RegExp(`\\bconst ${n}\\b`).test(code))
  return `${code}\nexport { ${names.join(', ')} }\n`
}

async function bundle (contents) {
  const result = await esbuild.build({
    stdin: { contents, resolveDir: nodeDir },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent'
  })
  return result.outputFiles[0].text
}

async function vendorFiles () {
  return {
    '/vendor/tus-js-client.mjs': await bundle("export * from 'tus-js-client'"),
    '/vendor/uppy.mjs': await bundle("export { default as Uppy } from '@uppy/core'\nexport { default as Tus } from '@uppy/tus'"),
    '/vendor/uppy-core.mjs': "export { Uppy as default } from '/vendor/uppy.mjs'\n",
    '/vendor/uppy-tus.mjs': "export { Tus as default } from '/vendor/uppy.mjs'\n",
    '/tusserver-token.mjs': readFileSync(join(root, 'clients', 'js', 'tusserver-token.mjs'), 'utf8')
  }
}

const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>tusserver browser test</title>
<script type="importmap">{"imports": {
  "tus-js-client": "/vendor/tus-js-client.mjs", "@uppy/core": "/vendor/uppy-core.mjs",
  "@uppy/tus": "/vendor/uppy-tus.mjs", "tusserver-token": "/tusserver-token.mjs"}}</script>
<input id="file" type="file">
<script type="module">
  // Not awaited: a block may await the whole upload at its top level (Uppy's), and the test watches it.
  window.runBlock = (name) => {
    window.file = document.getElementById('file').files[0]
    import('/block/' + name + '.mjs?' + Date.now()).then(
      (block) => { window.block = block },
      (err) => console.error('upload failed: ' + err.message))
  }
  window.pageReady = true
</script>`

async function startPageServer () {
  const files = job.case === 'demo' ? {} : await vendorFiles()
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    const send = (status, type, body) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' })
      res.end(body)
    }
    try {
      if (req.method === 'POST' && path === '/api/upload-token') return send(200, 'text/plain', mint())
      if (path === '/') return send(200, 'text/html', TEST_PAGE)
      if (files[path]) return send(200, 'text/javascript', files[path])
      if (path.startsWith('/block/')) return send(200, 'text/javascript', readmeBlock(path.slice(7, -4)))
      send(404, 'text/plain', 'not found')
    } catch (err) {
      send(500, 'text/plain', String(err.message))
    }
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${server.address().port}` }
}

// ---- what the browser does on the network ------------------------------------------------------------
const events = [] // {method, url, status, reqOffset, resOffset, token, newToken, phase, t}
const consoleLines = []
let phase = 'first'
let newestToken = null

function watch (page) {
  page.on('console', (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`))
  page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`))
  page.on('requestfailed', async (request) => {
    // Chromium also reports a request whose answer came but whose body nobody read: not a failure here.
    if (!request.url().startsWith(job.server) || (await request.response().catch(() => null))) return
    events.push({ method: request.method(), url: request.url(), status: 0, phase, failure: request.failure()?.errorText, t: Date.now() })
  })
  page.on('response', (response) => {
    // Synchronous on purpose: allHeaders() may wait for the end of the upload, and the tests watch progress.
    const t = Date.now()
    const at = phase
    const request = response.request()
    if (!request.url().startsWith(job.server) || request.method() === 'OPTIONS') return
    const reqHeaders = request.headers()
    const headers = response.headers()
    if (headers['x-new-token']) newestToken = headers['x-new-token']
    const event = {
      method: request.method(),
      url: request.url(),
      status: response.status(),
      reqOffset: reqHeaders['upload-offset'] !== undefined ? Number(reqHeaders['upload-offset']) : null,
      resOffset: headers['upload-offset'] !== undefined ? Number(headers['upload-offset']) : null,
      token: (reqHeaders.authorization || '').replace(/^Bearer /, '').slice(-16) || null,
      newToken: Boolean(headers['x-new-token']),
      phase: at,
      t
    }
    events.push(event)
  })
}

/** Poll `check` until it returns something truthy; fail with `what` after the deadline. */
async function until (check, what, timeoutMs = DEADLINE_MS) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await check()
    if (value) return value
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

const storedAt = () => {
  for (const line of consoleLines) {
    const found = line.match(/(?:stored at|bytes from) (\S+)/)
    if (found) return found[1]
    if (/upload failed|pageerror/.test(line)) throw new Error(`the page reported: ${line}`)
  }
  return null
}
const acceptedBytes = () => Math.max(0, ...events.filter((e) => e.resOffset !== null && e.method !== 'HEAD').map((e) => e.resOffset))

let cdp = null
async function throttle (context, page, bytesPerS = job.uploadBytesPerS) {
  if (!bytesPerS) return
  cdp = cdp || await context.newCDPSession(page)
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerS
  })
}

async function openBlockPage (context, page, pageUrl) {
  await page.goto(pageUrl)
  await page.waitForFunction(() => window.pageReady === true)
  await page.setInputFiles('#file', job.file)
  await throttle(context, page)
  await page.evaluate((name) => window.runBlock(name), job.block)
}

/** Wait until the server refuses `token` (it outlived its exp + leeway): the pause is long enough. */
async function untilRefused (url, token) {
  await until(async () => {
    const res = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` } })
    return res.status === 401
  }, 'the server to refuse the token held at the pause', 30000)
}

async function run () {
  const started = Date.now()
  const browser = await chromium.launch({ executablePath: job.chromium || '/usr/bin/chromium', args: ['--no-sandbox'] })
  const context = await browser.newContext({ acceptDownloads: true })
  const page = await context.newPage()
  watch(page)
  let pageServer = null
  const result = { case: job.case }
  try {
    if (job.case === 'demo') {
      await page.goto(job.server + '/')
      await page.waitForFunction(() => document.body.dataset.state === 'idle')
      await throttle(context, page)
      await page.setInputFiles('#file', job.file)
      if (job.pauseAtBytes) {
        // Pause with the page's button, stay paused until the server refuses the token the page holds,
        // resume with the button: our uploader must HEAD the same URL with a new token from /demo/token.
        await until(() => acceptedBytes() >= job.pauseAtBytes, 'the demo upload to get going')
        await page.click('#pause')
        await page.waitForFunction(() => document.body.dataset.state === 'paused')
        result.urlBefore = events.find((e) => e.method === 'PATCH').url
        phase = 'after'
        await untilRefused(result.urlBefore, newestToken)
        await throttle(context, page, -1)
        await page.click('#resume')
      }
      await page.waitForFunction(() => ['done', 'failed'].includes(document.body.dataset.state), null, { timeout: DEADLINE_MS })
      const status = await page.textContent('#status')
      if (status !== 'stored') throw new Error(`the demo page says: ${status}`)
      result.url = await page.textContent('#url')
      result.href = await page.getAttribute('#download', 'href')
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')])
      const saved = join(job.workDir, 'downloaded')
      await download.saveAs(saved)
      const body = readFileSync(saved)
      result.download = { size: body.length, sha256: createHash('sha256').update(body).digest('hex'), name: download.suggestedFilename() }
    } else {
      pageServer = await startPageServer()
      await openBlockPage(context, page, pageServer.url)
      if (['pause', 'reload', 'outage'].includes(job.case)) {
        const size = readFileSync(job.file).length
        await until(() => acceptedBytes() >= size * job.stopAt, `${job.stopAt * 100} % of the file on the server`)
        if (storedAt()) throw new Error('the upload finished before it could be interrupted: slow it down')
        result.urlBefore = events.find((e) => e.method === 'PATCH').url
        if (job.case === 'outage') {
          // The network goes away (navigator.onLine false, requests fail) for longer than the token held
          // lives; Uppy waits for 'online', then resumes: HEAD with the dead token, 401, new token, HEAD.
          await cdp.send('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
          const held = newestToken // what the helper holds: the newest X-New-Token the page received
          result.offsetAtPause = acceptedBytes()
          phase = 'after'
          await untilRefused(result.urlBefore, held)
          await throttle(context, page, -1)
        } else if (job.case === 'pause') {
          await page.waitForFunction(() => window.block !== undefined)
          await page.evaluate(() => window.block.upload.abort())
          const held = await page.evaluate(() => window.block.auth.token)
          result.offsetAtPause = acceptedBytes()
          phase = 'after'
          await untilRefused(result.urlBefore, held)
          result.pausedMs = Date.now() - started
          if (job.clockSlowS) {
            // The page's clock runs behind the server's: the helper trusts the held token, the server
            // answers the resume HEAD with 401, and that must be retried on the same URL.
            await page.evaluate((s) => { const real = Date.now; Date.now = () => real() - s * 1000 }, job.clockSlowS)
          }
          await throttle(context, page, -1) // interrupted where the test wanted: the rest at full speed
          await page.evaluate(() => window.block.upload.start())
        } else {
          result.offsetAtPause = acceptedBytes()
          phase = 'after'
          // Reload while still throttled: unthrottled first, the rest of the file could be stored before
          // the reload lands, and there would be nothing left to resume.
          await page.reload()
          await page.waitForFunction(() => window.pageReady === true)
          await throttle(context, page, -1)
          await page.setInputFiles('#file', job.file)
          await page.evaluate((name) => window.runBlock(name), job.block)
        }
      }
      result.url = await until(storedAt, 'the page to log "stored at <url>"')
      if (job.case === 'parallel') {
        const line = consoleLines.find((l) => l.includes('bytes from'))
        result.downloadLine = line
      }
    }
  } catch (err) {
    result.error = err.message
    if (job.screenshots) {
      mkdirSync(job.screenshots, { recursive: true })
      result.screenshot = join(job.screenshots, `${job.case}.png`)
      await page.screenshot({ path: result.screenshot, fullPage: true }).catch(() => {})
    }
  } finally {
    result.tokensMinted = tokensMinted
    result.events = events.sort((a, b) => a.t - b.t)
    result.console = consoleLines.slice(-40)
    result.elapsedMs = Date.now() - started
    await browser.close()
    if (pageServer) pageServer.server.close()
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

run().catch((err) => {
  log(err.stack)
  process.exit(1)
})
