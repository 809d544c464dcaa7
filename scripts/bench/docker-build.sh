#!/usr/bin/env bash
# docker-build benchmark: prints figures, never passes or fails on time.
# Same context, same loopback registry (Basic auth), 3 tags: wall time of
# bin/docker-build against `docker login` + `docker build` + 3x `docker push`
# through the CLI (classic builder on both sides, no cache, a fresh random
# layer every run so each push uploads), alternating, ROUNDS rounds; then
# the size of lightship/docker-build:latest.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${ROUNDS:-5}
layer_mb=${LAYER_MB:-16}
user='robot$bench+ci'
pass="bench-$RANDOM$RANDOM"
id="lsbench$RANDOM$RANDOM"

work=$(mktemp -d)
reg_pid=""
refs=()
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  for r in "${refs[@]}"; do docker rmi -f "$r" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

[ -x "$top/bin/docker-build" ] || make -C "$top" -s bin/docker-build
(cd "$top/pkg" && go build -o "$work/registry" ./testkit/registry/cmd/lightship-registry)
"$work/registry" -user "$user:$pass" >"$work/registry.out" 2>"$work/registry.err" &
reg_pid=$!
for _ in $(seq 50); do [ -s "$work/registry.out" ] && break; sleep 0.1; done
host=$(head -1 "$work/registry.out")
[ -n "$host" ] || { cat "$work/registry.err" >&2; exit 1; }

ctx="$work/ctx"
mkdir -p "$ctx"
printf 'FROM scratch\nARG V=1\nLABEL bench.v=$V\nCOPY . /data/\n' >"$ctx/Dockerfile"
fresh_layer() { head -c "$((layer_mb * 1024 * 1024))" /dev/urandom >"$ctx/blob.bin"; }
now() { date +%s.%N; }

export DOCKER_CONFIG="$work/docker-config"
mkdir -p "$DOCKER_CONFIG"

run_plugin() { # repo
  local repo=$1
  refs+=("$repo:a" "$repo:b" "$repo:c")
  env -i PATH="$PATH" HOME="$work" DOCKER_HOST="${DOCKER_HOST:-}" \
    PLUGIN_REPO="$repo" PLUGIN_TAGS=a,b,c PLUGIN_CONTEXT="$ctx" PLUGIN_DOCKERFILE="$ctx/Dockerfile" \
    PLUGIN_USERNAME="$user" PLUGIN_PASSWORD="$pass" PLUGIN_NO_CACHE=true PLUGIN_PULL_IMAGE=false \
    PLUGIN_AUTO_LABEL=false PLUGIN_PURGE=false DRONE_WORKSPACE="$work" \
    "$top/bin/docker-build" >"$work/plugin.log" 2>&1 || { cat "$work/plugin.log" >&2; return 1; }
}

run_cli() { # repo
  local repo=$1
  refs+=("$repo:a" "$repo:b" "$repo:c")
  {
    printf '%s' "$pass" | docker login -u "$user" --password-stdin "$host"
    DOCKER_BUILDKIT=0 docker build --no-cache -t "$repo:a" -t "$repo:b" -t "$repo:c" -f "$ctx/Dockerfile" "$ctx"
    for t in a b c; do docker push "$repo:$t"; done
  } >"$work/cli.log" 2>&1 || { cat "$work/cli.log" >&2; return 1; }
}

plugin_times=()
cli_times=()
for i in $(seq "$rounds"); do
  for side in plugin cli; do
    # Alternate who goes first so neither always meets a warmer daemon.
    [ $((i % 2)) -eq 0 ] && side=$([ "$side" = plugin ] && echo cli || echo plugin)
    fresh_layer
    t0=$(now)
    if [ "$side" = plugin ]; then run_plugin "$host/bench/plugin-$id-$i"; else run_cli "$host/bench/cli-$id-$i"; fi
    t1=$(now)
    dt=$(echo "$t1 - $t0" | bc)
    if [ "$side" = plugin ]; then plugin_times+=("$dt"); else cli_times+=("$dt"); fi
    printf 'round %d %-6s %6.2f s\n' "$i" "$side" "$dt"
  done
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mp=$(median "${plugin_times[@]}")
mc=$(median "${cli_times[@]}")
printf 'docker-build: 3 tags, %d MiB layer, median of %d: %.2f s\n' "$layer_mb" "$rounds" "$mp"
printf 'docker CLI (login+build+3 push): median of %d: %.2f s\n' "$rounds" "$mc"
printf 'ratio docker-build / CLI: %.3f (target <= 1.05)\n' "$(echo "$mp / $mc" | bc -l)"
if size=$(docker image inspect -f '{{.Size}}' lightship/docker-build:latest 2>/dev/null); then
  printf 'image lightship/docker-build:latest: %.2f MB (%d bytes; target <= 12 MB)\n' "$(echo "$size / 1000000" | bc -l)" "$size"
else
  echo "image lightship/docker-build:latest: not built (make images)"
fi
