#!/usr/bin/env bash
# Parallel tus upload with curl and bash: N partial uploads sent at once, merged by concatenation.
# Prints the final upload URL on the last line of stdout.
#
#   ./parallel-upload.sh FILE ENDPOINT [PARTS]
#
# Environment (all optional): TOKEN, TOKEN_COMMAND as for upload.sh; LIMIT_RATE (e.g. 4M) caps the
# whole upload, shared evenly by the parts; STATE_FILE (default .tus-resume-<file name>-<size>-parallel)
# remembers the part and final URLs, so running the same command again after a kill resumes every part.
#
# Each part is its own upload (Upload-Concat: partial) sent by upload.sh in the background; then one
# POST with Upload-Concat: final;<urls> asks the server to merge them, in the background: we poll HEAD
# until Upload-Offset equals the whole size. Rotated tokens are scoped to their owner, not to one
# upload, so one token variable serves every part and the final POST.
set -euo pipefail

file=${1:?usage: parallel-upload.sh FILE ENDPOINT [PARTS]}
endpoint=${2:?usage: parallel-upload.sh FILE ENDPOINT [PARTS]}
parts=${3:-4}
here=$(cd "$(dirname "$0")" && pwd)
size=$(stat -c %s "$file")
name=$(basename "$file")
state=${STATE_FILE:-.tus-resume-$name-$size-parallel}
token=${TOKEN:-}
work=$(mktemp -d)
headers=$work/headers
trap 'rm -rf "$work"' EXIT

say() { echo "parallel-upload.sh: $*" >&2; }
tus() {
  local extra=()
  [ -z "$token" ] || extra+=(-H "Authorization: Bearer $token")
  : > "$headers"
  curl -sS -o /dev/null -D "$headers" -w '%{http_code}' -H 'Tus-Resumable: 1.0.0' ${extra[@]+"${extra[@]}"} "$@" \
    || true
}
header() { grep -i "^$1:" "$headers" | tail -n 1 | cut -d' ' -f2- | tr -d '\r' || true; }
rotate() {
  local fresh
  fresh=$(header X-New-Token)
  [ -z "$fresh" ] || token=$fresh
  if [ "$1" = 401 ]; then
    [ -n "${TOKEN_COMMAND:-}" ] || { say "401: the server needs a valid token (set TOKEN or TOKEN_COMMAND)"; exit 3; }
    token=$(bash -c "$TOKEN_COMMAND")
  fi
}
absolute() { case $1 in http*) echo "$1" ;; *) echo "${endpoint%%//*}//$(echo "${endpoint#*//}" | cut -d/ -f1)$1" ;; esac; }
# 4M -> 4194304, as curl reads --limit-rate
bytes() {
  local n=${1%[kKmMgG]}
  case $1 in *[kK]) echo $(( n * 1024 )) ;; *[mM]) echo $(( n * 1048576 )) ;; *[gG]) echo $(( n * 1073741824 )) ;; *) echo "$n" ;; esac
}

urls=()
final=
if [ -s "$state" ]; then
  mapfile -t urls < <(sed -n 's/^part //p' "$state")
  final=$(sed -n 's/^final //p' "$state")
  parts=${#urls[@]}
  say "resuming the $parts parts remembered in $state"
fi

if [ -z "$final" ]; then
  piece=$(( (size + parts - 1) / parts ))
  split -b "$piece" -d -a 3 "$file" "$work/part-"
  pieces=("$work"/part-*)
  if [ "${#urls[@]}" = 0 ]; then
    for part in "${pieces[@]}"; do
      status=$(tus -X POST "$endpoint" -H "Upload-Length: $(stat -c %s "$part")" -H 'Upload-Concat: partial')
      rotate "$status"
      [ "$status" = 201 ] || { say "could not create a partial upload: HTTP $status"; exit 1; }
      urls+=("$(absolute "$(header Location)")")
    done
    printf 'part %s\n' "${urls[@]}" > "$state"
    say "created ${#urls[@]} partial uploads (remembered in $state)"
  fi
  rate=
  [ -z "${LIMIT_RATE:-}" ] || rate=$(( $(bytes "$LIMIT_RATE") / ${#urls[@]} ))
  for i in "${!urls[@]}"; do
    # Each part resumes into its own partial upload (upload.sh asks the server for its offset).
    UPLOAD_URL=${urls[$i]} TOKEN=$token TOKEN_OUT=$work/token-$i STATE_FILE=$work/state-$i LIMIT_RATE=$rate \
      "$here/upload.sh" "${pieces[$i]}" "$endpoint" > "$work/out-$i" 2> "$work/log-$i" &
  done
  failed=0
  for job in $(jobs -p); do wait "$job" || failed=1; done
  [ "$failed" = 0 ] || { cat "$work"/log-* >&2; say "a part failed; run the same command again to resume"; exit 1; }
  # The token we started with may have expired meanwhile: take the one a part finished with.
  newest=$(ls -t "$work"/token-* 2>/dev/null | head -n 1 || true)
  [ -z "$newest" ] || [ ! -s "$newest" ] || token=$(cat "$newest")

  status=$(tus -X POST "$endpoint" -H "Upload-Concat: final;${urls[*]}" \
               -H "Upload-Metadata: filename $(printf '%s' "$name" | base64 -w0)")
  rotate "$status"
  [ "$status" = 201 ] || { say "the final concatenation failed: HTTP $status"; exit 1; }
  final=$(absolute "$(header Location)")
  echo "final $final" >> "$state"
fi

for _ in $(seq 1 600); do
  status=$(tus -I "$final")
  rotate "$status"
  offset=$(header Upload-Offset)
  if [ "$offset" = "$size" ]; then
    rm -f "$state"
    echo "$final"
    exit 0
  fi
  sleep 0.2
done
say "the server did not finish merging $final"
exit 1
