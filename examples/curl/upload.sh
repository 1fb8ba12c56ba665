#!/usr/bin/env bash
# Resumable tus upload with curl and bash only. Prints the upload URL on the last line of stdout.
#
#   ./upload.sh FILE ENDPOINT [CHUNK_BYTES]
#
# Environment (all optional):
#   TOKEN          a bearer token, when the server has auth on. Every response may carry X-New-Token:
#                  the next request uses it, so a token that lives 30 s carries an upload of any length.
#   TOKEN_COMMAND  run (through the shell) for a new token when the server answers 401.
#   UPLOAD_URL     resume this upload instead of creating one.
#   STATE_FILE     where the upload URL is remembered, so running the same command again after a
#                  kill, a crash or a reboot resumes (default: .tus-resume-<file name>-<size> here).
#   LIMIT_RATE     e.g. 2M: passed to curl's --limit-rate for each PATCH.
#   TOKEN_OUT      write the newest token to this file at the end.
#
# After a failed request it asks the server where it is (HEAD, retried with back-off while the
# server is unreachable) and goes on from there.
set -euo pipefail

file=${1:?usage: upload.sh FILE ENDPOINT [CHUNK_BYTES]}
endpoint=${2:?usage: upload.sh FILE ENDPOINT [CHUNK_BYTES]}
chunk=${3:-4194304}
token=${TOKEN:-}
size=$(stat -c %s "$file")
name=$(basename "$file")
state=${STATE_FILE:-.tus-resume-$name-$size}
headers=$(mktemp)
chunkfile=$(mktemp)
trap 'rm -f "$headers" "$chunkfile"' EXIT

say() { echo "upload.sh: $*" >&2; }

# curl with the tus header and the newest token; prints the status, response headers land in $headers.
tus() {
  local extra=()
  [ -z "$token" ] || extra+=(-H "Authorization: Bearer $token")
  : > "$headers"
  # On a network error curl prints 000 as the status and fails; the callers treat 000 like a 5xx.
  curl -sS -o /dev/null -D "$headers" -w '%{http_code}' -H 'Tus-Resumable: 1.0.0' ${extra[@]+"${extra[@]}"} "$@" \
    || true
}
header() { grep -i "^$1:" "$headers" | tail -n 1 | cut -d' ' -f2- | tr -d '\r' || true; }
# Keep the newest token; on 401 ask TOKEN_COMMAND for a new one (returns 1 when there is none).
rotate() {
  local status=$1 fresh
  fresh=$(header X-New-Token)
  [ -z "$fresh" ] || token=$fresh
  if [ "$status" = 401 ]; then
    [ -n "${TOKEN_COMMAND:-}" ] || { say "401: the server needs a valid token (set TOKEN or TOKEN_COMMAND)"; exit 3; }
    token=$(bash -c "$TOKEN_COMMAND")
    say "401: got a new token from TOKEN_COMMAND"
    return 1
  fi
}
absolute() { case $1 in http*) echo "$1" ;; *) echo "${endpoint%%//*}//$(echo "${endpoint#*//}" | cut -d/ -f1)$1" ;; esac; }

url=${UPLOAD_URL:-}
if [ -z "$url" ] && [ -s "$state" ]; then
  url=$(cat "$state")
  say "resuming $url (remembered in $state)"
fi

# HEAD until the server answers: connection refused and 5xx are retried with growing pauses.
offset_from_server() {
  local status attempt=0
  while :; do
    status=$(tus -I "$url")
    rotate "$status" || continue
    case $status in
      200) offset=$(header Upload-Offset); return 0 ;;
      404 | 410 | 403) return 1 ;;  # gone (or not ours): start a new upload
    esac
    attempt=$(( attempt + 1 ))
    [ "$attempt" -le 10 ] || { say "the server did not answer HEAD (last HTTP $status); giving up"; exit 1; }
    pause=$(( attempt < 6 ? 1 << (attempt - 1) : 30 ))
    say "HEAD answered HTTP $status; retrying in $pause s"
    sleep "$pause"
  done
}

if [ -z "$url" ] || ! offset_from_server; then
  [ -z "$url" ] || say "$url is gone from the server; starting again"
  metadata="filename $(printf '%s' "$name" | base64 -w0)"
  while :; do
    status=$(tus -X POST -H "Upload-Length: $size" -H "Upload-Metadata: $metadata" "$endpoint")
    rotate "$status" && break
  done
  [ "$status" = 201 ] || { say "creating the upload failed: HTTP $status"; exit 1; }
  url=$(absolute "$(header Location)")
  offset=0
  say "upload URL: $url (remembered in $state)"
fi
printf '%s\n' "$url" > "$state"
[ "$offset" = 0 ] || say "resuming at $offset of $size bytes"

failures=0
while [ "$offset" -lt "$size" ]; do
  length=$(( size - offset < chunk ? size - offset : chunk ))
  # The chunk goes to a temporary file first: curl then knows its length and can pace it.
  tail -c +$(( offset + 1 )) "$file" 2>/dev/null | head -c "$length" > "$chunkfile" || true
  status=$(tus -X PATCH -H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $offset" \
               ${LIMIT_RATE:+--limit-rate "$LIMIT_RATE"} --data-binary @"$chunkfile" "$url")
  if rotate "$status" && [ "$status" = 204 ]; then
    offset=$(header Upload-Offset)
    failures=0
    say "sent $offset of $size bytes"
    continue
  fi
  failures=$(( failures + 1 ))
  [ "$failures" -le 8 ] || { say "giving up after HTTP $status"; exit 1; }
  say "PATCH answered HTTP $status; asking the server where to resume"
  sleep $(( failures < 5 ? failures : 5 ))
  offset_from_server || { say "$url disappeared from the server"; exit 1; }
done
rm -f "$state"
[ -z "${TOKEN_OUT:-}" ] || printf '%s' "$token" > "$TOKEN_OUT"
echo "$url"
