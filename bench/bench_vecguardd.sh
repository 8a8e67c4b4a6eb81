#!/bin/sh
# bench_vecguardd.sh — the daemon's speed (docs/benchmarks.md, "vecguardd:
# search, ingest and many tenants over HTTP"), in one run:
#
#   1. search: a tenant of 100,000 synthetic documents (built-in hashing
#      model); the daemon's search SQL in-process (2 threads, a connection
#      each), then the daemon on loopback (serve --workers 1) under wrk at 2
#      and 8 connections, the same query mix; queries/s, p50, p99 and the
#      ratio daemon/in-process; then, in-process, queries filtered on $.lang;
#   2. ingest end to end: 5,000 PUTs by 4 clients until the queue has done
#      them all, with --workers 1 and 2;
#   3. 1,000 tenants in rotation: one document each, searched round robin
#      with max_open_files 512 (74 open tenants): every answer 200, the
#      descriptors in use, memory per open tenant.
#
# Needs wrk (apt-get install wrk), build/vecguardd and
# build/bench/bench_appliance (make bench BENCH=bench_vecguardd builds them).
# The 100,000-document tenant takes a few minutes to build; it is kept in
# $VG_BENCH_CACHE (default build/bench/vecguardd-N) and built again when
# ext/ changes.  VG_BENCH_DOCS (100000), VG_BENCH_SECONDS (10, per
# measurement) and VG_BENCH_TENANTS (1000) shorten it; VG_BENCH_ONLY=2 (or
# 13, ...) runs some parts only; VG_DAEMON=PATH (running this script
# directly) benchmarks another vecguardd.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
daemon=${VG_DAEMON:-$root/build/vecguardd}
helper=${VG_BENCH_APPLIANCE:-$root/build/bench/bench_appliance}
lib=$root/build/libvecguard.a
ndocs=${VG_BENCH_DOCS:-100000}
secs=${VG_BENCH_SECONDS:-10}
ntenants=${VG_BENCH_TENANTS:-1000}
only=${VG_BENCH_ONLY:-123}
want() { case $only in *$1*) return 0 ;; esac; return 1; }
cache=${VG_BENCH_CACHE:-$root/build/bench/vecguardd-$ndocs}
if ! command -v wrk >/dev/null 2>&1; then
  echo "bench_vecguardd: wrk is not installed (sudo apt-get install -y wrk)" >&2
  exit 1
fi
for f in "$daemon" "$helper"; do
  [ -x "$f" ] || { echo "bench_vecguardd: $f is not built (make bench BENCH=bench_vecguardd)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/vecguardd-bench.XXXXXX")
pid=""
sampler=""
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The benchmark's settings: no rate limit, no request log.
export VECGUARDD_LIMITS_REQUESTS_PER_SECOND=0 VECGUARDD_LOG_REQUESTS=0
export VECGUARDD_SERVER_MAX_OPEN_FILES="${VECGUARDD_SERVER_MAX_OPEN_FILES:-4096}"

# start DIR WORKERS: serve DIR on a free loopback port; $pid, $url.
start() {
  for try in 1 2 3 4 5; do
    port=$((20000 + ($$ * 7 + try * 1009) % 20000))
    url=http://127.0.0.1:$port
    "$daemon" serve --data-dir "$1" --listen "127.0.0.1:$port" --workers "$2" >>"$work/daemon.log" 2>&1 &
    pid=$!
    if "$helper" health "$url"; then return 0; fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  done
  echo "bench_vecguardd: the daemon does not start:" >&2
  tail -5 "$work/daemon.log" >&2
  exit 1
}
stop() {
  kill "$pid"
  wait "$pid" || true
  pid=""
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
fds() { find "/proc/$pid/fd" -mindepth 1 2>/dev/null | wc -l; }
# tenant files the daemon holds open (connections), -wal and -shm apart
open_tenants() { find "/proc/$pid/fd" -mindepth 1 -lname '*/tenants/*.db' 2>/dev/null | wc -l; }

# ---- 1. search ----------------------------------------------------------------
if want 1; then
echo "--- 1. search: one tenant of $ndocs documents"
. "$root/bench/big_tenant.sh"
big_tenant
key=$(cat "$cache/key")
"$helper" queries "$work/queries.jsonl" 1000
# in-process before and after the daemon: the machine is shared, so the
# ratio is taken against their mean
"$helper" search "$cache" big "$work/queries.jsonl" 2 "$secs" | tee "$work/inproc.txt"
start "$cache" 1
rss0=$(rss_kb)
export VG_WRK_QUERIES="$work/queries.jsonl" VG_WRK_PATH=/v1/tenants/big/search VG_WRK_KEY="$key"
for c in 2 8; do
  # Each connection's first search loads the graph (about 0.5 s at 100,000
  # rows): warm up with as many connections as are measured.
  wrk -t1 -c"$c" -d3s -s "$here/bench_vecguardd.lua" "$url" >/dev/null
  # one wrk thread: the client takes as little as it can of the 2 cores
  wrk -t1 -c"$c" -d"${secs}s" --latency -s "$here/bench_vecguardd.lua" "$url" >"$work/wrk$c.txt"
done
rss1=$(rss_kb)
nopen=$(open_tenants)
stop
"$helper" search "$cache" big "$work/queries.jsonl" 2 "$secs" | tee -a "$work/inproc.txt"
inproc=$(sed -n 's/.* = \([0-9]*\) queries\/s.*/\1/p' "$work/inproc.txt" | awk '{s += $1; n++} END {printf "%.0f", s / n}')
for c in 2 8; do
  line=$(tail -1 "$work/wrk$c.txt")
  q=$(echo "$line" | sed -n 's/.* = \([0-9]*\) queries\/s.*/\1/p')
  p99=$(echo "$line" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
  ok=$(awk -v p="$p99" 'BEGIN {print (p < 10 ? "yes" : "no")}')
  ratio=$(awk -v a="$q" -v b="$inproc" 'BEGIN {printf "%.2f", b ? a / b : 0}')
  echo "daemon, wrk $c connections: $line; daemon/in-process $ratio (in-process mean $inproc/s); p99 < 10 ms: $ok"
done
awk -v a="$rss0" -v b="$rss1" -v n="$nopen" 'BEGIN {printf "daemon RSS %.1f MB at start, %.1f MB after, with %d connections open on the tenant\n", a / 1024, b / 1024, n}'
# A filter on a metadata key reads every row: the daemon's table has no
# metadata column but `metadata` (docs/pipeline.md#filters-on-the-items-metadata).
"$helper" queries "$work/filtered.jsonl" 200 100
printf 'filtered on $.lang, '
"$helper" search "$cache" big "$work/filtered.jsonl" 1 "$secs"

fi

# ---- 2. ingest end to end -------------------------------------------------------
if want 2; then
echo "--- 2. ingest: 5000 PUTs by 4 clients until all are done"
for w in 1 2; do
  dir=$work/ingest$w
  ikey=$("$daemon" tenant create ing --data-dir "$dir" | sed -e 's/.*"key": "\([^"]*\)".*/\1/')
  start "$dir" "$w"
  printf 'workers %s: ' "$w"
  "$helper" put "$url" ing "$ikey" 5000 4
  stop
done
fi

# ---- 3. many tenants in rotation --------------------------------------------------
if want 3; then
echo "--- 3. $ntenants tenants in rotation, max_open_files 512"
dir=$work/rotation
export VECGUARDD_SERVER_MAX_OPEN_FILES=512
start "$dir" 1
"$helper" tenants "$url" "$(cat "$dir/admin.key")" "$ntenants" "$work/keys.txt"
stop
# sample PIDS_FILE: the most descriptors and open tenant files seen, every 0.1 s
sample() {
  while :; do
    echo "$(fds) $(open_tenants)"
    sleep 0.1
  done >"$1" 2>/dev/null
}
for w in 0 1; do
  start "$dir" "$w"
  rss0=$(rss_kb)
  fd0=$(fds)
  sample "$work/fds$w.txt" &
  sampler=$!
  printf 'workers %s: ' "$w"
  "$helper" rotate "$url" "$work/keys.txt" 4 "$secs" || true
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  sampler=""
  rss1=$(rss_kb)
  n=$(open_tenants)
  maxfd=$(awk '$1 > m {m = $1} END {print m}' "$work/fds$w.txt")
  maxt=$(awk '$2 > m {m = $2} END {print m}' "$work/fds$w.txt")
  emfile=$(grep -c -i -e 'too many open files' -e 'EMFILE' "$work/daemon.log" || true)
  echo "workers $w: descriptors $fd0 at start, at most $maxfd during the run (budget 512); open tenants at most $maxt," \
    "$n at the end; EMFILE in the log: $emfile"
  if [ "$w" = 0 ]; then
    awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN {printf "memory: RSS %.1f MB with no tenant open, %.1f MB with %d open: %.0f KB per open tenant\n", a / 1024, b / 1024, n, n ? (b - a) / n : 0}'
  fi
  stop
done
fi
errors=$(grep -v -e 'serving' -e 'signal' -e 'stopping' "$work/daemon.log" | head -5)
if [ -n "$errors" ]; then
  echo "the daemon logged:"
  echo "$errors"
fi
