// A small resumable tus 1.0.0 uploader for the demo page: POST, then HEAD and PATCH in chunks.
// The upload URL is kept in localStorage under the file's fingerprint, so a reload, a pause or an outage
// resumes where the server says the upload stands (HEAD), never from byte 0. Tokens are someone else's
// job: pass the `fetch` of tusserver-token.mjs's rotatingToken() when the server wants them.

const TUS = { 'Tus-Resumable': '1.0.0' }

/** An answer the uploader cannot do anything about by trying again. */
export class UploadError extends Error {}

/**
 * @typedef {object} UploadOptions
 * @property {string} endpoint absolute URL of the server's upload collection (its --base-path)
 * @property {number} [chunkSize] bytes per PATCH
 * @property {typeof fetch} [fetch] e.g. rotatingToken(...).fetch, which sends and rotates the token
 * @property {(sent: number, total: number) => void} [onProgress]
 * @property {number[]} [retryDelays] milliseconds to wait before each retry of a failed request
 */

export class Upload {
  /** @param {File} file @param {UploadOptions} options */
  constructor (file, options) {
    this.file = file
    this.endpoint = options.endpoint
    this.chunkSize = options.chunkSize || 1024 * 1024
    this.fetch = options.fetch || ((input, init) => fetch(input, init))
    this.onProgress = options.onProgress || (() => {})
    this.retryDelays = options.retryDelays || [0, 1000, 3000, 5000, 10000]
    this.key = ['tusserver-demo', this.endpoint, file.name, file.type, file.size, file.lastModified].join('::')
    /** @type {string | null} */ this.url = localStorage.getItem(this.key)
    this.paused = false
    /** @type {AbortController | null} */ this.controller = null
  }

  /** Upload (or resume) the file. Resolves with its URL when stored whole, or null when paused. */
  async start () {
    this.paused = false
    this.controller = new AbortController()
    let attempt = 0
    for (;;) {
      try {
        let offset = this.url ? await this.head() : null
        if (offset === null) offset = await this.create()
        while (offset < this.file.size) {
          if (this.paused) return null
          const before = offset
          offset = await this.patch(offset)
          if (offset > before) attempt = 0
          this.onProgress(offset, this.file.size)
        }
        localStorage.removeItem(this.key)
        this.onProgress(this.file.size, this.file.size)
        return this.url
      } catch (err) {
        if (this.paused) return null
        if (err instanceof UploadError || attempt >= this.retryDelays.length) throw err
        await new Promise((resolve) => setTimeout(resolve, this.retryDelays[attempt++]))
        if (this.paused) return null
      }
    }
  }

  pause () {
    this.paused = true
    if (this.controller) this.controller.abort()
  }

  async create () {
    const metadata = [['filename', this.file.name], ['filetype', this.file.type || 'application/octet-stream']]
      .map(([key, value]) => `${key} ${base64(value)}`).join(',')
    const res = await this.request(this.endpoint, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': String(this.file.size), 'Upload-Metadata': metadata }
    })
    check(res, 201, 'creating the upload')
    this.url = new URL(res.headers.get('Location'), this.endpoint).href
    localStorage.setItem(this.key, this.url)
    return 0
  }

  /** Where the server says the upload stands; null when it is gone (then a new one is made). */
  async head () {
    const res = await this.request(this.url, { method: 'HEAD', headers: TUS })
    if (res.status === 404 || res.status === 410 || res.status === 403) {
      localStorage.removeItem(this.key)
      this.url = null
      return null
    }
    check(res, 200, 'asking for the offset')
    return Number(res.headers.get('Upload-Offset'))
  }

  async patch (offset) {
    const body = this.file.slice(offset, Math.min(offset + this.chunkSize, this.file.size))
    const res = await this.request(this.url, {
      method: 'PATCH',
      headers: { ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
      body
    })
    check(res, 204, 'sending bytes')
    return Number(res.headers.get('Upload-Offset'))
  }

  request (url, init) {
    return this.fetch(url, { ...init, signal: this.controller.signal })
  }
}

/** Retry what may pass later (network, 409, 423, 429, 5xx); give up on any other refusal. */
function check (res, expected, what) {
  if (res.status === expected) return
  const message = `${what}: the server answered ${res.status}`
  if (res.status < 500 && ![409, 423, 429].includes(res.status)) throw new UploadError(message)
  throw new Error(message)
}

function base64 (text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
}
