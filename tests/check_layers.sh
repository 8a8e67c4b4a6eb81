#!/bin/sh
# check_layers.sh — the layers of ext/ depend one way only
# (docs/architecture.md).  Each folder ext/<layer>/ has one internal header,
# <layer>/<layer>.h; its files may include that header and the headers of
# the layers listed for it below, and the public header "vecguard.h"
# (include/), and no other file of the project.
# ext/vecguard.c, the registrar, may include any layer.  And the hnsw and
# fulltext layers and the distance kernels (ext/vector/distance.c) build
# without any SQLite header.  Fails naming each file that breaks a rule.
set -eu
cd "$(dirname "$0")/.."
found=$(mktemp)
trap 'rm -f "$found"' EXIT
allowed() {
  case "$1" in
    base) echo "" ;;
    vector) echo "base" ;;
    hnsw) echo "vector" ;;
    fulltext) echo "" ;;
    bert) echo "" ;;
    table) echo "base vector hnsw fulltext" ;;
    pii) echo "base" ;;
    embed) echo "base vector fulltext bert" ;;
    pipeline) echo "base vector embed table" ;;
    *) echo "?" ;;
  esac
}
for dir in ext/*/; do
  layer=$(basename "$dir")
  ok=$(allowed "$layer")
  if [ "$ok" = "?" ]; then
    echo "check-layers: ext/$layer/ is not a known layer: add it to tests/check_layers.sh and docs/architecture.md"
    continue
  fi
  for f in "$dir"*.c "$dir"*.h; do
    [ -e "$f" ] || continue
    # Every #include "..." of the file, with its line number.
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r hit; do
      line=${hit%%:*}
      inc=$(printf '%s\n' "$hit" | sed 's/^[^"]*"\([^"]*\)".*/\1/')
      target=${inc%%/*}
      [ "$inc" = "vecguard.h" ] && continue
      if [ "$inc" != "$target/$target.h" ]; then
        echo "$f:$line: includes \"$inc\": include a layer's header, \"<layer>/<layer>.h\""
        continue
      fi
      case " $layer $ok " in
        *" $target "*) ;;
        *) echo "$f:$line: the $layer layer includes \"$inc\" from a layer it may not use (allowed: ${ok:-none})" ;;
      esac
    done
  done
done >"$found"
# What the preprocessor makes of them must name nothing of SQLite.
expanded=$(mktemp)
trap 'rm -f "$found" "$expanded"' EXIT
for f in ext/hnsw/*.c ext/fulltext/*.c ext/bert/*.c ext/vector/distance.c; do
  if ! ${CC:-cc} -E -D_GNU_SOURCE -Iext -Iinclude "$f" >"$expanded"; then
    echo "$f: the preprocessor (${CC:-cc} -E) failed on it" >>"$found"
  elif grep -q 'sqlite3' "$expanded"; then
    echo "$f: includes an SQLite header (the hnsw, fulltext and bert layers and the kernels build without SQLite: see hnsw.h, fulltext.h, bert.h)" >>"$found"
  fi
done
if [ -s "$found" ]; then
  cat "$found"
  exit 1
fi
echo "check-layers: every include in ext/ runs down the layers"
