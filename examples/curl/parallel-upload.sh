#!/usr/bin/env bash
# Parallel tus upload with curl and bash: N partial uploads sent at once, merged by concatenation.
#
#   TOKEN=<jwt> ./parallel-upload.sh FILE ENDPOINT [PARTS]      (TOKEN optional)
#
# Each part is its own upload (Upload-Concat: partial) sent by upload.sh in the background with its
# own rotating token; then one POST with Upload-Concat: final;<urls> asks the server to merge them.
# The server merges in the background: we poll HEAD until Upload-Offset equals the whole size.
set -euo pipefail

file=${1:?usage: parallel-upload.sh FILE ENDPOINT [PARTS]}
endpoint=${2:?usage: parallel-upload.sh FILE ENDPOINT [PARTS]}
parts=${3:-4}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
size=$(stat -c %s "$file")
token=${TOKEN:-}

auth() { [ -n "$token" ] && printf 'Authorization: Bearer %s' "$token" || printf 'X-No-Auth: 1'; }

# Cut the file into N pieces (the last takes the remainder) and create one partial upload for each.
piece=$(( (size + parts - 1) / parts ))
split -b "$piece" -d -a 3 "$file" "$work/part-"
urls=()
for part in "$work"/part-*; do
  hdrs=$(curl -sS -D - -o /dev/null -X POST "$endpoint" -H 'Tus-Resumable: 1.0.0' -H "$(auth)" \
              -H "Upload-Length: $(stat -c %s "$part")" -H 'Upload-Concat: partial')
  location=$(printf '%s\n' "$hdrs" | grep -i '^location:' | cut -d' ' -f2- | tr -d '\r')
  fresh=$(printf '%s\n' "$hdrs" | grep -i '^x-new-token:' | cut -d' ' -f2- | tr -d '\r' || true)
  [ -n "$location" ] || { echo "could not create a partial upload" >&2; exit 1; }
  case $location in http*) ;; *) location="${endpoint%%/files/*}$location" ;; esac
  urls+=("$location")
  # Send this part in the background, resuming into the partial upload just made.
  UPLOAD_URL=$location TOKEN=${fresh:-$token} TOKEN_OUT=$part.token \
    "$here/upload.sh" "$part" "$endpoint" > "$part.out" 2> "$part.log" &
  [ -n "$fresh" ] && token=$fresh
done
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
[ "$failed" = 0 ] || { cat "$work"/*.log >&2; echo "a part failed" >&2; exit 1; }
# The tokens from creation have long expired: take the newest one a part finished with.
newest=$(ls -t "$work"/part-*.token 2>/dev/null | head -n 1 || true)
[ -n "$newest" ] && [ -s "$newest" ] && token=$(cat "$newest")

# Merge. A token scoped to one of the parts may create the final upload.
hdrs=$(curl -sS -D - -o /dev/null -X POST "$endpoint" -H 'Tus-Resumable: 1.0.0' -H "$(auth)" \
            -H "Upload-Concat: final;${urls[*]}")
final=$(printf '%s\n' "$hdrs" | grep -i '^location:' | cut -d' ' -f2- | tr -d '\r')
fresh=$(printf '%s\n' "$hdrs" | grep -i '^x-new-token:' | cut -d' ' -f2- | tr -d '\r' || true)
[ -n "$fresh" ] && token=$fresh
[ -n "$final" ] || { echo "final concatenation failed" >&2; exit 1; }
case $final in http*) ;; *) final="${endpoint%%/files/*}$final" ;; esac
for _ in $(seq 1 600); do
  hdrs=$(curl -sS -I "$final" -H 'Tus-Resumable: 1.0.0' -H "$(auth)")
  fresh=$(printf '%s\n' "$hdrs" | grep -i '^x-new-token:' | cut -d' ' -f2- | tr -d '\r' || true)
  [ -n "$fresh" ] && token=$fresh
  offset=$(printf '%s\n' "$hdrs" | grep -i '^upload-offset:' | cut -d' ' -f2- | tr -d '\r' || true)
  [ "$offset" = "$size" ] && { echo "$final"; exit 0; }
  sleep 0.2
done
echo "the server did not finish merging $final" >&2
exit 1
