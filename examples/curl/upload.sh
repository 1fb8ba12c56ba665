#!/usr/bin/env bash
# Resumable tus upload with curl and bash only.
#
#   TOKEN=<jwt> ./upload.sh FILE ENDPOINT [CHUNK_BYTES]      (TOKEN optional; UPLOAD_URL=... to resume)
#
# TOKEN_OUT=FILE: write the newest token there when done.
#
# LIMIT_RATE (e.g. 2M) is passed to curl's --limit-rate for each PATCH.
# Sends FILE in chunks. Every response may carry X-New-Token: the next request uses it, so a token
# that lives 30 s is enough for an upload of any length. After a failed PATCH it asks the server
# where it is (HEAD) and goes on from there. Prints the upload URL on the last line.
set -euo pipefail

file=${1:?usage: upload.sh FILE ENDPOINT [CHUNK_BYTES]}
endpoint=${2:?usage: upload.sh FILE ENDPOINT [CHUNK_BYTES]}
chunk=${3:-4194304}
token=${TOKEN:-}
size=$(stat -c %s "$file")
headers=$(mktemp)
chunkfile=$(mktemp)
trap 'rm -f "$headers" "$chunkfile"' EXIT

# curl with the tus header and the newest token; response headers land in $headers.
tus() {
  local extra=()
  [ -n "$token" ] && extra+=(-H "Authorization: Bearer $token")
  [ -n "${LIMIT_RATE:-}" ] && extra+=(--limit-rate "$LIMIT_RATE")
  curl -sS -o /dev/null -D "$headers" -w '%{http_code}' -H 'Tus-Resumable: 1.0.0' "${extra[@]}" "$@"
}
header() { grep -i "^$1:" "$headers" | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }
rotate() { local fresh; fresh=$(header X-New-Token); [ -n "$fresh" ] && token=$fresh; return 0; }

url=${UPLOAD_URL:-}
if [ -z "$url" ]; then
  name=$(basename "$file" | base64 -w0)
  status=$(tus -X POST -H "Upload-Length: $size" -H "Upload-Metadata: filename $name" "$endpoint")
  rotate
  [ "$status" = 201 ] || { echo "creation failed: HTTP $status" >&2; exit 1; }
  url=$(header Location)
  case $url in http*) ;; *) url="${endpoint%%/files/*}$url" ;; esac
  echo "upload URL: $url (set UPLOAD_URL to resume)" >&2
fi

offset_from_server() {
  local status
  status=$(tus -I "$url") || return 1
  rotate
  [ "$status" = 200 ] || { echo "HEAD failed: HTTP $status" >&2; return 1; }
  offset=$(header Upload-Offset)
}

offset_from_server
failures=0
while [ "$offset" -lt "$size" ]; do
  length=$(( size - offset < chunk ? size - offset : chunk ))
  # The chunk goes to a temporary file first: curl then knows its length and can pace it.
  tail -c +$(( offset + 1 )) "$file" 2>/dev/null | head -c "$length" > "$chunkfile" || true
  status=$(tus -X PATCH -H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $offset" \
               --data-binary @"$chunkfile" "$url") || status=000
  rotate
  if [ "$status" = 204 ]; then
    offset=$(header Upload-Offset)
    failures=0
    echo "sent $offset / $size bytes" >&2
    continue
  fi
  failures=$(( failures + 1 ))
  [ "$failures" -le 8 ] || { echo "giving up after HTTP $status" >&2; exit 1; }
  echo "PATCH answered HTTP $status; asking the server where to resume" >&2
  sleep $(( failures < 5 ? failures : 5 ))
  offset_from_server || true
done
# TOKEN_OUT=FILE hands the newest token on (parallel-upload.sh needs a live one for the final POST).
[ -n "${TOKEN_OUT:-}" ] && printf '%s' "$token" > "$TOKEN_OUT"
echo "$url"
