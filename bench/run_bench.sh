#!/bin/sh
# Run the benchmarks.  Peers come from the npm registry into a temporary
# folder, removed afterwards: sqlite-vec and vectorlite as prebuilt files;
# hnswlib-node through npm install (which builds its addon: needs g++, make
# and python3); redact-pii through npm install (plain JavaScript).  A peer that cannot be fetched is left out with a note.
#
#   bench_exact  runs twice: file databases, then in-memory databases
#   bench_ann    runs once, file databases
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${VG_SHARED:=$(cd "$here/../.." && pwd)/shared}"
export VG_SHARED
peers=$(mktemp -d "${TMPDIR:-/tmp}/vecguard-peers.XXXXXX")
export VG_BENCH_DIR="$peers" VG_BENCH_SRC="$here"
trap 'rm -rf "$peers"' EXIT INT TERM

# npm_unpack PACKAGE@VERSION FOLDER: the package's files in $peers/FOLDER
npm_unpack() {
  command -v npm >/dev/null 2>&1 || return 1
  mkdir -p "$peers/$2" &&
    (cd "$peers/$2" && npm pack --silent "$1" >/dev/null 2>&1 && tar xzf ./*.tgz)
}

VG_SQLITE_VEC="" VG_VECTORLITE="" VG_HNSWLIB_NODE=""
if npm_unpack sqlite-vec-linux-x64@0.1.9 vec; then
  VG_SQLITE_VEC="$peers/vec/package/vec0.so"
else
  echo "note: could not fetch sqlite-vec-linux-x64@0.1.9 from npm; left out" >&2
fi
if npm_unpack @1yefuwang1/vectorlite-linux-x64@0.2.0 vectorlite; then
  VG_VECTORLITE="$peers/vectorlite/package/src/vectorlite.so"
else
  echo "note: could not fetch @1yefuwang1/vectorlite-linux-x64@0.2.0 from npm; left out" >&2
fi
# npm_install PACKAGE@VERSION FOLDER: installed under $peers/FOLDER/node_modules
npm_install() {
  command -v node >/dev/null 2>&1 &&
    (cd "$peers" && npm install --silent --no-save --prefix "$peers/$2" "$1" >/dev/null 2>&1)
}

VG_REDACT_PII=""
if npm_install hnswlib-node@3.0.0 hnsw; then
  VG_HNSWLIB_NODE="$peers/hnsw/node_modules"
else
  echo "note: could not install hnswlib-node@3.0.0 with npm; left out" >&2
fi
if npm_install redact-pii@3.4.0 redact; then
  VG_REDACT_PII="$peers/redact/node_modules"
else
  echo "note: could not install redact-pii@3.4.0 with npm; left out" >&2
fi
export VG_SQLITE_VEC VG_VECTORLITE VG_HNSWLIB_NODE VG_REDACT_PII

status=0
for b in "$@"; do
  echo "=== $b"
  "$b" || status=1
  case "$b" in
    *bench_exact)
      echo "=== $b (in-memory databases)"
      VG_BENCH_MEMORY=1 "$b" || status=1
      ;;
  esac
done
exit $status
