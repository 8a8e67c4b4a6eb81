#!/bin/sh
# bench_sync.sh — sync's speed (docs/benchmarks.md, "sync: tenant files to a
# target and back"), in one run, on the 100,000-document tenant that
# bench_vecguardd.sh builds and keeps in build/bench/vecguardd-100000:
#
#   1. initial sync to file:// and to s3rver 3.7.1 (npm): seconds, MB of
#      tenant file, bytes put, MB/s; peer: cp of the same file, then fsync;
#   2. restore from each into a fresh data directory: seconds, MB/s, then
#      vecguardd check on it (must be ok); peer: the same cp;
#   3. incremental sync after 1,000 PUTs through the daemon's API (new
#      documents, then updates of existing ones), the queue emptied first:
#      bytes shipped, seconds, pages, bytes as a fraction of the file; and
#      a sync before them (no upserts; the daemon's start changes a few
#      pages).  The PUTs come from VG_BENCH_CLIENTS clients (4);
#   4. replica lag under steady ingest on loopback: a box (interval 1) and a
#      hub (serve --replica, interval 1) on one target, a tenant of
#      VG_BENCH_LAG_DOCS (5,000) documents; 20 PUTs/s for 30 s on the box,
#      each with a word of its own; every 0.5 s the hub is searched (mode
#      lexical) for the documents it has not shown yet, oldest first, up to
#      the first missing; p50, p95 and max of PUT 202 -> found (to 0.5 s),
#      and the documents still missing 60 s after the last PUT.
#
# The S3 target is s3rver itself (credentials S3RVER/S3RVER), not
# tests/appliance/s3test.py's SigV4-checking proxy: one process fewer, no
# Python on the path (measured once, the proxy made the initial sync 3.65 s
# instead of 3.24 s); s3rver checks no signature.  MB are 10^6 bytes.
# Everything runs on loopback.
#
# Needs build/vecguardd, build/bench/bench_appliance (make bench
# BENCH=bench_sync builds them), curl, /usr/bin/python3, node and npm (s3rver is
# installed once into build/npm-s3rver from the npm registry; without node
# the S3 parts are left out with a note).  VG_BENCH_DOCS (100000),
# VG_BENCH_UPSERTS (1000), VG_BENCH_CLIENTS (4), VG_BENCH_LAG_DOCS (5000),
# VG_BENCH_LAG_RATE (20), VG_BENCH_LAG_SECONDS (30), VG_BENCH_TARGETS ("file s3"),
# VG_BENCH_LAG_TARGETS ("file s3") and VG_BENCH_ONLY=34 (or 1, ...) shorten
# it; VG_DAEMON=PATH benchmarks another vecguardd; VG_BENCH_KEEP=1 keeps the
# work directory (data directories, targets, the daemons' logs).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
daemon=${VG_DAEMON:-$root/build/vecguardd}
helper=${VG_BENCH_APPLIANCE:-$root/build/bench/bench_appliance}
lib=$root/build/libvecguard.a
py=/usr/bin/python3
ndocs=${VG_BENCH_DOCS:-100000}
nups=${VG_BENCH_UPSERTS:-1000}
clients=${VG_BENCH_CLIENTS:-4}
lagdocs=${VG_BENCH_LAG_DOCS:-5000}
lagrate=${VG_BENCH_LAG_RATE:-20}
lagsecs=${VG_BENCH_LAG_SECONDS:-30}
targets=${VG_BENCH_TARGETS:-file s3}
lagtargets=${VG_BENCH_LAG_TARGETS:-file s3}
only=${VG_BENCH_ONLY:-1234}
want() { case $only in *$1*) return 0 ;; esac; return 1; }
cache=${VG_BENCH_CACHE:-$root/build/bench/vecguardd-$ndocs}
for f in "$daemon" "$helper" "$py"; do
  [ -x "$f" ] || { echo "bench_sync: $f is not built (make bench BENCH=bench_sync)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/vecguardd-sync-bench.XXXXXX")
pids=""
cleanup() {
  for p in $pids; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ -n "${VG_BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export VECGUARDD_LIMITS_REQUESTS_PER_SECOND=0 VECGUARDD_LOG_REQUESTS=0

now() { date +%s.%N; }
# json FIELD: FIELD's number in the JSON on stdin
json() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" | head -1; }
calc() { awk "BEGIN {printf $1}"; }
size() { stat -c %s "$1"; }
mb() { calc "\"%.1f\", $1 / 1e6"; }
drop() { pids=$(for p in $pids; do [ "$p" = "$1" ] || echo "$p"; done); }

# serve NAME DIR ARGS...: vecguardd serve on a free loopback port; $pid, $url
serve() {
  name=$1 dir=$2
  shift 2
  : >"$work/$name.log"
  "$daemon" serve --data-dir "$dir" --listen 127.0.0.1:0 "$@" 2>>"$work/$name.log" &
  pid=$!
  pids="$pids $pid"
  port=""
  for _ in $(seq 100); do
    port=$(json port <"$work/$name.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "bench_sync: $name does not start:" >&2; tail -5 "$work/$name.log" >&2; exit 1; }
  url=http://127.0.0.1:$port
  "$helper" health "$url"
}
stop() {
  kill "$1"
  wait "$1" || true
  drop "$1"
}
# get URL KEY PATH
get() { curl -s -H "Authorization: Bearer $2" "$1$3"; }

# ---- the targets ---------------------------------------------------------------
"$daemon" sync-key create "$work/sync.key" >/dev/null
# conf NAME TARGET INTERVAL: $work/NAME.ini
conf() {
  {
    printf '[sync]\ntarget = %s\nkey_file = %s\ninterval = %s\nretention = 86400\n' "$2" "$work/sync.key" "$3"
    case $2 in s3://*)
      printf 'endpoint = %s\nregion = us-east-1\naccess_key_env = VG_BENCH_S3_ACCESS\nsecret_key_env = VG_BENCH_S3_SECRET\n' \
        "$s3url" ;;
    esac
  } >"$work/$1.ini"
}
s3url=""
case "$targets $lagtargets" in *s3*)
  if prefix=$("$py" -B -c 'import sys; sys.path.insert(0, sys.argv[1]); import s3test; print(s3test.install_s3rver())' \
    "$root/tests/appliance" 2>"$work/s3install.log"); then
    s3port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$work/s3rver"
    (cd "$prefix" && exec node --openssl-legacy-provider node_modules/.bin/s3rver -d "$work/s3rver" -a 127.0.0.1 \
      -p "$s3port" --silent --configure-bucket vgbench) >"$work/s3rver.log" 2>&1 &
    s3pid=$!
    pids="$pids $s3pid"
    for _ in $(seq 100); do
      grep -q 'S3rver listening' "$work/s3rver.log" && break
      sleep 0.1
    done
    if grep -q 'S3rver listening' "$work/s3rver.log"; then
      s3url=http://127.0.0.1:$s3port
      export VG_BENCH_S3_ACCESS=S3RVER VG_BENCH_S3_SECRET=S3RVER
    else
      echo "note: s3rver does not start ($(tail -1 "$work/s3rver.log")); the S3 target is left out" >&2
    fi
  else
    echo "note: s3rver cannot be installed ($(tail -1 "$work/s3install.log")); the S3 target is left out" >&2
  fi
  ;;
esac
if [ -z "$s3url" ]; then
  targets=$(echo "$targets" | sed 's/s3//')
  lagtargets=$(echo "$lagtargets" | sed 's/s3//')
fi
# target KIND PREFIX: the target URL
target() { if [ "$1" = s3 ]; then echo "s3://vgbench/$2"; else echo "file://$work/target-$2"; fi; }
label() { if [ "$1" = s3 ]; then echo "s3rver"; else echo "file://"; fi; }

# ---- the 100,000-document tenant (as bench_vecguardd.sh builds it) --------------
if want 1 || want 2 || want 3; then
. "$root/bench/big_tenant.sh"
big_tenant
fsize=$(size "$cache/tenants/big.db")
# the peer: cp of the same file, then fsync (sync's objects are fsynced too)
cp "$cache/tenants/big.db" "$work/peer.db" # warms the page cache as the copies below do
rm -f "$work/peer.db"
t0=$(now)
cp "$cache/tenants/big.db" "$work/peer.db"
sync "$work/peer.db"
tcp=$(calc "\"%.3f\", $(now) - $t0")
rm -f "$work/peer.db"
echo "tenant file: $(mb "$fsize") MB ($ndocs documents); peer: cp + fsync of it $tcp s = $(calc "\"%.0f\", $fsize / 1e6 / $tcp") MB/s"
# each target its own copy of the data directory (sync.db keeps one chain per tenant)
for t in $targets; do
  rm -rf "$work/box-$t"
  cp -a "$cache" "$work/box-$t"
  conf "$t" "$(target "$t" big)" 300
done
fi

# ---- 1. initial sync -------------------------------------------------------------
if want 1; then
echo "--- 1. initial sync of the $ndocs-document tenant"
for t in $targets; do
  t0=$(now)
  out=$("$daemon" sync --config "$work/$t.ini" --data-dir "$work/box-$t" --tenant big)
  wall=$(calc "\"%.3f\", $(now) - $t0")
  secs=$(echo "$out" | json seconds)
  bytes=$(echo "$out" | json bytes)
  echo "initial sync to $(label "$t"): $secs s ($wall s wall), tenant file $(mb "$fsize") MB, $(mb "$bytes") MB put" \
    "($(calc "\"%.2f\", $bytes / $fsize") of the file), $(calc "\"%.1f\", $fsize / 1e6 / $secs") MB/s;" \
    "sync/cp time $(calc "\"%.1f\", $secs / $tcp")x  $out"
done
fi

# ---- 2. restore --------------------------------------------------------------------
if want 2; then
echo "--- 2. restore into a fresh data directory"
for t in $targets; do
  d=$work/restore-$t
  rm -rf "$d"
  t0=$(now)
  out=$("$daemon" restore --config "$work/$t.ini" --data-dir "$d" --tenant big | sed 's/"key": "[^"]*"/"key": "…"/')
  secs=$(calc "\"%.3f\", $(now) - $t0")
  rsize=$(size "$d/tenants/big.db")
  t0=$(now)
  chk=$("$daemon" check --data-dir "$d" 2>&1) && ok=ok || ok="NOT OK"
  tchk=$(calc "\"%.1f\", $(now) - $t0")
  case $chk in *'"integrity_check":"ok"'*'"ok":true}') ;; *) ok="NOT OK" ;; esac
  echo "restore from $(label "$t"): $secs s, $(calc "\"%.1f\", $rsize / 1e6 / $secs") MB/s ($(mb "$rsize") MB file);" \
    "restore/cp time $(calc "\"%.1f\", $secs / $tcp")x; vecguardd check: $ok ($tchk s)  $out"
  [ "$ok" = ok ] || echo "$chk" | head -c 2000
  if cmp -s "$d/tenants/big.db" "$work/box-$t/tenants/big.db"; then
    echo "  the restored file equals the source byte for byte"
  fi
  rm -rf "$d"
done
fi

# ---- 3. incremental sync -------------------------------------------------------------
if want 3; then
echo "--- 3. incremental sync after $nups upserts through the API"
key=$(cat "$cache/key")
psize=$(od -An -j16 -N2 -tu1 "$cache/tenants/big.db" | awk '{p = $1 * 256 + $2; print p == 1 ? 65536 : p}')
# incr KIND WHAT: sync, one line
incr() {
  out=$("$daemon" sync --config "$work/$1.ini" --data-dir "$work/box-$1" --tenant big)
  bytes=$(echo "$out" | json bytes)
  echo "incremental sync to $(label "$1") after $2: $(echo "$out" | json seconds) s, $bytes bytes shipped" \
    "($(calc "\"%.2f\", $bytes / 1e6") MB, $(calc "\"%.3f\", 100 * $bytes / $fsize")% of the file)," \
    "$(echo "$out" | json pages) pages of $((fsize / psize))  $out"
}
for t in $targets; do
  # the first sync of part 1, if it did not run
  want 1 || "$daemon" sync --config "$work/$t.ini" --data-dir "$work/box-$t" --tenant big >/dev/null
  serve "box-$t" "$work/box-$t" --workers 1
  incr "$t" "no upserts (the daemon started)"
  for mode in new update; do
    "$py" "$here/bench_sync.py" upsert "$url" big "$key" "$nups" "$mode" "$ndocs" "$clients"
    incr "$t" "$nups upserts ($mode documents)"
  done
  stop "$pid"
done
fi

# ---- 4. replica lag ----------------------------------------------------------------------
if want 4; then
echo "--- 4. replica lag: box and hub (interval 1), $lagrate PUTs/s for $lagsecs s, tenant of $lagdocs documents"
seed=$work/lagseed
mkdir -p "$seed"
"$daemon" tenant create lag --data-dir "$seed" | sed -e 's/.*"key": "\([^"]*\)".*/\1/' >"$seed/key"
"$helper" build "$seed" lag "$lagdocs" >/dev/null
echo "tenant lag: $lagdocs documents, $(mb "$(size "$seed/tenants/lag.db")") MB"
for t in $lagtargets; do
  conf "lag-$t" "$(target "$t" lag)" 1
  rm -rf "$work/lagbox-$t" "$work/laghub-$t"
  cp -a "$seed" "$work/lagbox-$t"
  lkey=$(cat "$seed/key")
  serve "lagbox-$t" "$work/lagbox-$t" --config "$work/lag-$t.ini" --workers 1
  box=$pid boxurl=$url
  st=""
  for _ in $(seq 300); do
    st=$(get "$boxurl" "$lkey" /v1/tenants/lag/sync)
    case $st in *'"seq":0,'*) ;; *'"changed_since_sync":false'*) break ;; esac
    sleep 0.1
  done
  serve "laghub-$t" "$work/laghub-$t" --config "$work/lag-$t.ini" --replica --workers 1
  hub=$pid huburl=$url
  admin=$(cat "$work/laghub-$t/admin.key")
  t0=$(now)
  hst=$(get "$huburl" "$admin" /v1/tenants/lag/sync)
  echo "$(label "$t"): the box pushed the tenant on its own; the hub's first pull $(calc "\"%.2f\", $(now) - $t0") s  $hst"
  hkey=$(curl -s -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"scopes": ["search"]}' "$huburl/v1/tenants/lag/keys" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
  if ! "$py" "$here/bench_sync.py" lag "$boxurl" "$huburl" lag "$lkey" "$hkey" "$lagrate" "$lagsecs"; then
    # the box's file and WAL as its change detection sees them (mtime, size)
    stat -c '  box %n: mtime %y, %s bytes' "$work/lagbox-$t/tenants/"lag.db* | sed "s|$work/||"
  fi
  pushes=$(grep -c '"event":"sync"' "$work/lagbox-$t.log" || true)
  pulls=$(grep '"event":"replica"' "$work/laghub-$t.log" | grep -c '"level":"info"' || true)
  refused=$(grep '"event":"replica"' "$work/laghub-$t.log" | grep -c '"level":"warn"' || true)
  echo "$(label "$t"): $pushes pushes by the box, $pulls pulls by the hub, $refused pulls failed (warn) in the run;" \
    "box $(get "$boxurl" "$lkey" /v1/tenants/lag/sync)"
  echo "  hub $(get "$huburl" "$hkey" /v1/tenants/lag/sync)"
  stop "$hub"
  stop "$box"
done
fi

errors=$(cat "$work"/*.log 2>/dev/null | grep -e '"level":"error"' -e '"level":"warn' | head -5 || true)
if [ -n "$errors" ]; then
  echo "the daemons logged:"
  echo "$errors"
fi
