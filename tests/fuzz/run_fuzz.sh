#!/bin/sh
# Run each fuzz target named on the command line (fuzz_<name> in $FUZZ_DIR)
# for $FUZZ_SECONDS from a scratch copy of its seed corpus; report each
# target's executions and coverage, and fail if any target failed.
set -u
dir="${FUZZ_DIR:-build/fuzz}"
seconds="${FUZZ_SECONDS:-60}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=""
summary=""
for name in "$@"; do
  bin="$dir/fuzz_$name"
  run="$dir/run/$name"
  mkdir -p "$run/corpus"
  # Seeds are copied, never written back: the repository's corpus stays as
  # committed, the scratch one keeps what earlier runs found.
  if [ -d "tests/fuzz/corpus/$name" ]; then
    cp -n "tests/fuzz/corpus/$name"/* "$run/corpus/" 2>/dev/null || true
  fi
  echo "=== fuzz_$name for ${seconds}s"
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$run/" ${FUZZ_FLAGS:-} "$run/corpus" >"$run/log" 2>&1
  rc=$?
  line=$(grep -E '^#[0-9]+[[:space:]]' "$run/log" | tail -n 1)
  echo "$line"
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$run/log" || true
  summary="$summary
fuzz_$name: $line"
  if [ $rc -ne 0 ]; then
    echo "fuzz_$name FAILED (exit $rc); log: $run/log"
    grep -E 'FUZZ CHECK FAILED|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|Test unit written' \
      "$run/log" | head -n 10
    failed="$failed fuzz_$name"
  fi
done
echo "=== summary$summary"
if [ -n "$failed" ]; then
  echo "FAILED:$failed"
  exit 1
fi
echo "all $# fuzz targets ran ${seconds}s without a failure"
