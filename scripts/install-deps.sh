#!/bin/sh
# install-deps.sh — the Debian 12 packages vecguard builds, tests and fuzzes
# with, from apt.  As root it runs apt-get itself (containers, CI); as
# another user, through sudo.  .ci/run runs it after its own apt-get, so the
# README's command is tried as CI runs.
set -eu
# What is built, linked, tested and benchmarked with (wrk drives the daemon
# in make bench), and no more: .ci/run's list.
packages="
  build-essential sqlite3 libsqlite3-dev libsodium-dev libpcre2-dev libutf8proc-dev libjansson-dev
  libopenblas-dev libcurl4-openssl-dev libmicrohttpd-dev libinih-dev libzstd-dev libcmocka-dev pkg-config python3 python3-numpy
  clang-14 libclang-rt-14-dev
  python3-snowballstemmer wamerican
  curl openssl prometheus wrk
  python3-yaml python3-jsonschema python3-nacl python3-zstandard
"
# Node.js and npm for the Node helper's test: Debian's, unless the machine
# has its own (NodeSource's nodejs carries npm and conflicts with Debian's).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages="$packages nodejs npm"
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "install-deps.sh: run it as root, or install sudo" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages
