#!/usr/bin/env bash
# logspout-route load figures against the real daemon (prints, never fails
# on time): N lines x 100 bytes from 1 and from 10 containers, logspout-route
# to a TCP sink vs a bare Engine-API follow reader, CPU us/line, peak RSS with
# 100 containers attached, and the idle cost (CPU, wake-ups, dockerd) of 100
# quiet containers over 60 s. LSR_BENCH_N scales it (default 1000000).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
make -s bin/logspout-route >/dev/null
cd plugins/logspout-route
exec timeout 1800 go run ./cmd/lsr-bench -n "${LSR_BENCH_N:-1000000}" -containers "${LSR_BENCH_CONTAINERS:-100}" -bin "$top/bin/logspout-route"
