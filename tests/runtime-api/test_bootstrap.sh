#!/bin/bash
# A `provided` runtime written in plain bash (no curl in the sandbox): the
# Runtime API over /dev/tcp. Replies "sh:<event>" and logs one line per call.
set -u
api="${AWS_LAMBDA_RUNTIME_API:?}"
host="${api%:*}" port="${api#*:}"
request() {  # method path body -> sets HEADERS and BODY
  exec 3<>"/dev/tcp/$host/$port"
  printf '%s /2018-06-01/runtime/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s' \
    "$1" "$2" "${#3}" "$3" >&3
  HEADERS=""
  BODY=""
  local line len=0
  while IFS= read -r line <&3; do
    line="${line%$'\r'}"
    [[ -z "$line" ]] && break
    HEADERS+="$line"$'\n'
    [[ "${line,,}" == content-length:* ]] && len="${line#*: }"
  done
  ((len > 0)) && IFS= read -r -N "$len" BODY <&3
  exec 3<&-
}
while true; do
  request GET invocation/next ""
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' <<<"$HEADERS" | cut -d' ' -f2)
  echo "shell handling $id"
  request POST "invocation/$id/response" "sh:$BODY"
done
