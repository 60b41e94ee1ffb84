#!/bin/bash
# http-probe PORT PATH — exit 0 when http://127.0.0.1:PORT/PATH answers 200 within 3 s.
# The container health check of the images that carry no HTTP client (jaeger, prometheus,
# gateway): bash's /dev/tcp and nothing else, so no curl or wget is installed for it.
set -u
[ $# -eq 2 ] || { echo "usage: http-probe PORT PATH" >&2; exit 2; }
exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
IFS= read -r -t 3 status <&3 || exit 1
case $status in "HTTP/1."[01]" 200 "*) exit 0 ;; *) echo "$status" >&2; exit 1 ;; esac
