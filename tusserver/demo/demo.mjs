// The --demo page: pick or drop a file, watch it upload, pause and resume, download it back.
import { rotatingToken } from './tusserver-token.mjs'
import { Upload } from './uploader.mjs'

const $ = (id) => document.getElementById(id)
const config = await (await fetch('/demo/config.json')).json()
const endpoint = new URL(config.endpoint, location.href).href
const auth = config.auth
  ? rotatingToken({
    getToken: async () => {
      const res = await fetch('/demo/token', { method: 'POST' })
      if (!res.ok) throw new Error(`/demo/token answered ${res.status}`)
      return res.text()
    }
  })
  : null
/** @type {Upload | null} */ let upload = null

$('endpoint').textContent = endpoint
$('auth').textContent = config.auth ? 'on (tokens from POST /demo/token, rotated on every answer)' : 'off'

function state (name, text) {
  document.body.dataset.state = name
  $('status').textContent = text
  $('pause').disabled = name !== 'uploading'
  $('resume').disabled = name !== 'paused' && name !== 'failed'
}

function showProgress (sent, total) {
  $('progress').value = total ? sent / total : 1
  $('percent').textContent = `${total ? ((sent / total) * 100).toFixed(1) : '100.0'} % of ${total} bytes`
}

async function run () {
  state('uploading', `uploading ${upload.file.name}…`)
  try {
    const url = await upload.start()
    if (url === null) return state('paused', 'paused: Resume continues from where the server stands')
    $('url').textContent = url
    const link = $('download')
    link.href = url
    link.download = upload.file.name
    link.hidden = false
    state('done', 'stored')
  } catch (err) {
    state('failed', `failed: ${err.message} (Resume tries again)`)
  }
}

function choose (file) {
  if (!file) return
  if (upload) upload.pause()
  $('url').textContent = ''
  $('download').hidden = true
  upload = new Upload(file, { endpoint, fetch: auth ? auth.fetch : undefined, onProgress: showProgress })
  showProgress(0, file.size)
  run()
}

// With auth on a plain link would get 401: fetch the file with the token and save what came back.
$('download').addEventListener('click', async (event) => {
  if (!auth) return
  event.preventDefault()
  const link = event.currentTarget
  const res = await auth.fetch(link.href)
  if (!res.ok) return state('failed', `download: the server answered ${res.status}`)
  const save = document.createElement('a')
  save.href = URL.createObjectURL(await res.blob())
  save.download = link.download
  save.dataset.blob = '1'
  document.body.append(save)
  save.click()
  save.remove()
  setTimeout(() => URL.revokeObjectURL(save.href), 60000)
})

$('file').addEventListener('change', (event) => choose(event.target.files[0]))
$('pause').addEventListener('click', () => upload && upload.pause())
$('resume').addEventListener('click', () => upload && run())
const drop = $('drop')
drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over') })
drop.addEventListener('dragleave', () => drop.classList.remove('over'))
drop.addEventListener('drop', (event) => {
  event.preventDefault()
  drop.classList.remove('over')
  choose(event.dataTransfer.files[0])
})
state('idle', 'choose or drop a file')
