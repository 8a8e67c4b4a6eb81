#!/bin/sh
# test_readme.sh — the README's first SQL block runs as pasted into the
# sqlite3 shell (its .load line pointed at $VG_EXTENSION), without an error,
# and answers what a plain query over the same rows answers: the rows of the
# named tenant and content types, nearest first by vg_distance.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
ext="${VG_EXTENSION:-$here/build/vecguard.so}"
command -v sqlite3 >/dev/null || { echo "test_readme: no sqlite3 shell (apt-get install sqlite3)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The first ```sql block of the README.
awk '/^```sql$/ && !done { on = 1; next } on && /^```$/ { on = 0; done = 1 } on' "$here/README.md" >"$tmp/snippet.sql"
grep -q '^\.load \./build/vecguard$' "$tmp/snippet.sql" || { echo "test_readme: the snippet does not start with .load ./build/vecguard"; exit 1; }
sed "s|^\.load \./build/vecguard\$|.load $ext|" "$tmp/snippet.sql" >"$tmp/run.sql"
cat >>"$tmp/run.sql" <<'SQL'
SELECT '--';
SELECT rowid, body FROM docs
 WHERE tenant_id = 'acme' AND content_type IN ('deal', 'contact')
 ORDER BY vg_distance(embedding, :query, 'cosine'), rowid;
SQL
sqlite3 -bail :memory: <"$tmp/run.sql" >"$tmp/out" 2>&1 || { echo "test_readme: the snippet failed:"; cat "$tmp/out"; exit 1; }
# Snippet rows (rowid|distance|body) as rowid|body, against the reference.
sed -n '1,/^--$/p' "$tmp/out" | sed '$d' | awk -F'|' '{ print $1 "|" $3 }' >"$tmp/got"
sed -n '/^--$/,$p' "$tmp/out" | sed '1d' >"$tmp/want"
if [ ! -s "$tmp/want" ] || ! cmp -s "$tmp/got" "$tmp/want"; then
  echo "test_readme: the snippet printed"; cat "$tmp/out"
  echo "expected rowid|body:"; cat "$tmp/want"
  exit 1
fi
echo "test_readme: the README's snippet ran as pasted and gave $(wc -l <"$tmp/want") rows, as a plain query does"
