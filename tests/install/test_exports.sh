#!/bin/sh
# test_exports.sh — the loadable extension exports the public API of
# include/vecguard.h that it has (its entry point, vecguard_version and
# vecguard_register_embedder; vecguard_init is libvecguard.a's) and nothing else: its internals
# (hnsw_init, topk_push, ...) are built with -fvisibility=hidden, so they
# cannot clash with a program's own symbols.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
ext="${VG_EXTENSION:-$here/build/vecguard.so}"
want=$(printf '%s\n' sqlite3_vecguard_init vecguard_register_embedder vecguard_version)
# Defined, exported symbols; the sanitizers' runtime hooks are not ours.
got=$(nm -D --defined-only "$ext" | awk '{ print $3 }' | grep -v -E '^(__asan|__odr_asan|__ubsan|__sanitizer|__lsan)' | sort)
count=$(printf '%s\n' "$got" | grep -c . || true)
if [ "$got" != "$want" ]; then
  echo "test_exports: $ext exports $count symbols; want only" $want":"
  printf '%s\n' "$got" | head -20
  exit 1
fi
echo "test_exports: $ext exports $count symbols:" $got
