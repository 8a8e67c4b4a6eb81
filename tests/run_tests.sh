#!/bin/sh
# Run every test binary given; report each, fail if any failed.
# Tests find the extension through $VG_EXTENSION and the documentation
# through $VG_DOCS (both set by make test).
set -u
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=""
for t in "$@"; do
  echo "=== $t"
  if ! "$t"; then failed="$failed $t"; fi
done
if [ -n "$failed" ]; then
  echo "FAILED:$failed"
  exit 1
fi
echo "all $# test programs passed"
