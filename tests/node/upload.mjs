// Upload one file with tus-js-client's Node API; print the final upload URL on stdout.
// Usage: node upload.mjs FILE ENDPOINT [OPTIONS_JSON]
// OPTIONS_JSON: {"chunkSize": n, "parallelUploads": n, "metadata": {...}, "stream": true}
// (stream: read the file with fs.createReadStream instead of one Buffer; needs chunkSize).
import fs from "node:fs";
import tus from "tus-js-client";

const [file, endpoint, rawOptions] = process.argv.slice(2);
if (!file || !endpoint) {
  console.error("usage: node upload.mjs FILE ENDPOINT [OPTIONS_JSON]");
  process.exit(2);
}
const { stream = false, ...options } = rawOptions ? JSON.parse(rawOptions) : {};
const input = stream ? fs.createReadStream(file) : fs.readFileSync(file);

const upload = new tus.Upload(input, {
  endpoint,
  retryDelays: [0, 200, 1000],
  metadata: { filename: file.split("/").pop() },
  ...options,
  onError(error) {
    console.error(`upload failed: ${error}`);
    process.exit(1);
  },
  onSuccess() {
    console.log(upload.url);
  },
});
upload.start();
