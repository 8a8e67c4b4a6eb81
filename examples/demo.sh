#!/bin/sh
# The main demo: build a vector table, search it with filters, ingest notes
# with personal data through the pipeline (redact, embed, search), and show
# that a search which does not name its tenant is refused.
set -eu
cd "$(dirname "$0")/.."
db=$(mktemp "${TMPDIR:-/tmp}/vecguard-demo.XXXXXX")
trap 'rm -f "$db" "$db-journal"' EXIT INT TERM
sqlite3 "$db" < examples/demo.sql
echo
echo "A search that does not name its tenant is refused (tenant isolation):"
if sqlite3 "$db" ".load ./build/vecguard" \
   "SELECT rowid FROM docs WHERE embedding MATCH '[1,0,0,0]' AND k = 3" 2>&1; then
  echo "demo: the query without a tenant was not refused" >&2
  exit 1
fi
