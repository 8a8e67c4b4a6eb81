#!/bin/sh
# The appliance demo: vecguardd on a port of loopback the system picks, in a
# temporary data directory; a tenant, documents with personal data put one
# at a time and as a batch, a search over HTTP once the worker has embedded
# them, another tenant's key refused, the governance report and a few
# metrics; the tenant synced, encrypted, to a directory standing for object
# storage, and a read-only replica answering the same search from it; then
# SIGTERM.
set -eu
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/vecguardd-demo.XXXXXX")
pid=
hub=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  if [ -n "$hub" ]; then kill "$hub" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
json() { /usr/bin/python3 -c "import json,sys; v = json.load(sys.stdin)$1; print(v if isinstance(v, str) else json.dumps(v))"; }

build/vecguardd tenant create clinic --data-dir "$dir/data" >"$dir/clinic.json"
build/vecguardd tenant create shop --data-dir "$dir/data" >"$dir/shop.json"
key=$(json "['key']" <"$dir/clinic.json")
shop=$(json "['key']" <"$dir/shop.json")
# sync every second to a directory (an s3:// bucket works the same way)
build/vecguardd sync-key create "$dir/sync.key"
printf '[sync]\ntarget = file://%s/bucket\nkey_file = %s/sync.key\ninterval = 1\n' "$dir" "$dir" >"$dir/vecguardd.ini"
# start_daemon LOG ARGS...: a vecguardd in the background; $port its port
start_daemon() {
  log=$1
  shift
  build/vecguardd serve --config "$dir/vecguardd.ini" --listen 127.0.0.1:0 "$@" 2>"$log" &
  last_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/.*"event":"start".*"port":\([0-9]*\).*/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "demo: vecguardd did not start:" >&2; cat "$log" >&2; exit 1; }
}
start_daemon "$dir/log" --data-dir "$dir/data"
pid=$last_pid
url=http://127.0.0.1:$port/v1/tenants/clinic
echo "vecguardd serves $dir/data on 127.0.0.1:$port"
call() { k=$1; shift; curl -sS -H "Authorization: Bearer $k" "$@"; }

echo
echo "PUT a note with a name's e-mail and phone number (redacted before it is stored or embedded):"
call "$key" -X PUT "$url/documents/n1" -H 'Content-Type: application/json' \
  -d '{"type": "note", "text": "Patient reports fever and a dry cough; call ana.gomez@example.com or +1 415 555 0134", "metadata": {"ward": "b"}}'
echo
echo "POST two more as NDJSON, one result per line:"
printf '%s\n' '{"id": "n2", "text": "Twisted ankle after a fall, ice and rest", "metadata": {"ward": "a"}}' \
              '{"id": "n3", "text": "Fever went down overnight; cough persists", "metadata": {"ward": "b"}}' |
  call "$key" -X POST "$url/documents:batch" -H 'Content-Type: application/x-ndjson' --data-binary @-
for _ in $(seq 200); do
  done_n=$(call "$key" "$url/queue" | json "['by_status']['done']")
  [ "$done_n" = 3 ] && break
  sleep 0.05
done
echo
echo "POST search {\"query\": \"fever cough\", \"filters\": {\"\$.ward\": \"b\"}}:"
call "$key" -X POST "$url/search" -H 'Content-Type: application/json' \
  -d '{"query": "fever cough", "k": 3, "filters": {"$.ward": "b"}}' |
  /usr/bin/python3 -c 'import json,sys
for r in json.load(sys.stdin)["results"]: print("  %-3s %.3f  %s" % (r["id"], r["score"], r["snippet"]))'
echo
echo "The shop's key on the clinic's search is refused:"
call "$shop" -X POST "$url/search" -H 'Content-Type: application/json' -d '{"query": "fever"}'
echo
echo
echo "The clinic's governance report (PII found in what was sent, by type):"
call "$key" "$url/report" | json "['pii']"
echo
echo "Some metrics:"
curl -sS "http://127.0.0.1:$port/metrics" | grep -E '^vecguardd_(pii_findings_total|embedded_items_total|open_tenants|sync_pushes_total)'
echo
echo "The clinic's sync status once its last write is pushed (sealed objects in $dir/bucket):"
for _ in $(seq 100); do
  status=$(call "$key" "$url/sync")
  [ "$(echo "$status" | json "['changed_since_sync']")" = false ] && [ "$(echo "$status" | json "['seq']")" != 0 ] && break
  sleep 0.1
done
echo "$status"
echo
echo "A read-only replica follows the same target: the admin's first look pulls the tenant, its key searches:"
start_daemon "$dir/hub.log" --data-dir "$dir/hub" --replica
hub=$last_pid
hub_url=http://127.0.0.1:$port/v1/tenants/clinic
admin=$(cat "$dir/hub/admin.key")
hub_key=$(call "$admin" -X POST "$hub_url/keys" -H 'Content-Type: application/json' -d '{"scopes": ["search", "ingest"]}' |
  json "['key']")
call "$hub_key" -X POST "$hub_url/search" -H 'Content-Type: application/json' \
  -d '{"query": "fever cough", "k": 3, "filters": {"$.ward": "b"}}' |
  /usr/bin/python3 -c 'import json,sys
for r in json.load(sys.stdin)["results"]: print("  %-3s %.3f  %s" % (r["id"], r["score"], r["snippet"]))'
echo "A write there is refused:"
call "$hub_key" -X PUT "$hub_url/documents/n9" -H 'Content-Type: application/json' -d '{"text": "no"}'
echo
kill -TERM "$hub" "$pid"
wait "$hub"
wait "$pid"
pid=
hub=
echo
echo "vecguardd and its replica stopped on SIGTERM (exit 0)."
