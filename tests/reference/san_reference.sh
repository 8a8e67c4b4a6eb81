#!/bin/sh
# The reference tests of the trained models and services (Python) against
# the sanitizer build, in make test SANITIZE=1, and the comparison with
# sqlite-vec (its int8, bit and float tables migrated into vg_hnsw ones).
# Python is not built with ASan, so the sanitizers' runtimes are preloaded
# into it; leaks are not checked (the interpreter's own memory at exit reads
# as leaked), memory errors and undefined behaviour are, in every path these
# tests reach (the service client, the NER windows, the pipeline's
# word-piece chunks, the int8 and bit kernels and tables).
set -u
dir=$(dirname "$0")
preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
failed=""
for t in test_service.py test_ner.py test_model_pipeline.py test_bert_forward.py test_sqlite_vec.py; do
  if ! LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 /usr/bin/python3 "$dir/$t"; then
    failed="$failed $t"
  fi
done
if [ -n "$failed" ]; then
  echo "san_reference: FAILED:$failed"
  exit 1
fi
