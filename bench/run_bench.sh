#!/bin/sh
# Run the benchmarks.  Peers are installed from the npm registry into a
# temporary folder (prebuilt files, nothing compiled) and removed afterwards;
# without them the benchmarks print vecguard's figures alone.
set -u
: "${VG_SHARED:=$(cd "$(dirname "$0")/../.." && pwd)/shared}"
export VG_SHARED
peers=$(mktemp -d "${TMPDIR:-/tmp}/vecguard-peers.XXXXXX")
export VG_BENCH_DIR="$peers"
trap 'rm -rf "$peers"' EXIT INT TERM

VG_SQLITE_VEC=""
if command -v npm >/dev/null 2>&1 &&
   (cd "$peers" && npm pack --silent sqlite-vec-linux-x64@0.1.9 >/dev/null 2>&1 &&
    mkdir vec && tar xzf sqlite-vec-linux-x64-0.1.9.tgz -C vec); then
  VG_SQLITE_VEC="$peers/vec/package/vec0.so"
else
  echo "note: could not fetch sqlite-vec-linux-x64@0.1.9 from npm; comparing nothing" >&2
fi
export VG_SQLITE_VEC

status=0
for b in "$@"; do
  echo "=== $b"
  "$b" || status=1
  echo "=== $b (in-memory databases)"
  VG_BENCH_MEMORY=1 "$b" || status=1
done
exit $status
