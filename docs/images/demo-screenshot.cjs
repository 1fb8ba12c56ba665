// The demo page mid-upload, as docs/images/demo-page.png in the README: `make docs-images` runs this
// against a `tusserver serve --demo` it starts. Usage: node demo-screenshot.cjs URL OUT.png [chromium]
// The upload is throttled (Chromium's network emulation) and paused at about half, so the picture shows
// the progress bar, the pause/resume buttons and the upload URL.
const { chromium } = require('playwright-core')

const [url, out, executablePath = '/usr/bin/chromium'] = process.argv.slice(2)

async function main () {
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage({ viewport: { width: 720, height: 480 }, deviceScaleFactor: 1 })
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024
    })
    await page.goto(url)
    await page.waitForSelector('body:not([data-state="loading"])')
    const bytes = Buffer.alloc(3 * 1024 * 1024, 7)
    await page.setInputFiles('#file', { name: 'holiday-video.mp4', mimeType: 'video/mp4', buffer: bytes })
    await page.waitForFunction(() => document.querySelector('#progress').value > 0.45, null, { timeout: 60000 })
    await page.click('#pause')
    await page.waitForFunction(() => !document.querySelector('#resume').disabled, null, { timeout: 30000 })
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.screenshot({ path: out, fullPage: true })
  } finally {
    await browser.close()
  }
}

main().catch((error) => { console.error(error); process.exit(1) })
