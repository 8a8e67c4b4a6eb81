#!/usr/bin/python3
"""vecguardd's operations routes and settings, end to end on the real daemon:
document pages and batches, the governance report, /metrics (promtool and
counted values), rate limits, key rotation, the connection pool under a
small descriptor budget, environment overrides, SIGHUP, TLS, JSON logs and
`vecguardd check`.  Helpers come from test_vecguardd.py."""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vecguardd as base  # noqa: E402  (its Api checks every reply against docs/openapi.yaml)

check, check_error, cli, start, stop = base.check, base.check_error, base.cli, base.start, base.stop


def raw_call(api, method, path, data, key, ctype):
    """A request whose reply is not one JSON value: (status, headers, text)."""
    req = urllib.request.Request(api.base + path, data=data, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            st, headers, text = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        st, headers, text = e.code, dict(e.headers), e.read()
    base.responses_checked[0] += 1
    for problem in base.SPEC.check_response(method, path, st, headers.get("Content-Type"), text, headers):
        check(False, "openapi: " + problem)
    return st, headers, text.decode()


def metric_values(text):
    """{'name{labels}': value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def documents_and_batches(api, key, skey):
    ids = ["p%02d" % i for i in (7, 3, 11, 1, 9, 5, 13)]
    for d in ids:
        api.call("PUT", "/v1/tenants/acme/documents/" + d, {"text": "page test " + d, "metadata": {"n": d}}, key=key)
    seen, cursor, pages = [], None, 0
    while pages < 10:
        path = "/v1/tenants/acme/documents?limit=3" + ("&cursor=" + cursor if cursor else "")
        st, body = api.call("GET", path, key=skey)
        if st != 200:
            break
        pages += 1
        seen += [d["id"] for d in body["documents"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    check(seen == sorted(ids) and pages == 3, "three pages of 3, 3, 1 in id order with a search key (got %s)" % seen)
    st, body = api.call("GET", "/v1/tenants/acme/documents?limit=1000", key=key)
    check(st == 200 and body["next_cursor"] is None and [d["id"] for d in body["documents"]] == sorted(ids)
          and body["documents"][0]["metadata"] == {"n": "p01"}, "one page of all, with metadata")
    for q, word in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("cursor=%%%%", "cursor"),
                    ("cursor=Li4", "cursor"), ("color=red", "color")):
        check_error(api.call("GET", "/v1/tenants/acme/documents?" + q, key=key), 400, "bad_parameter", word,
                    "GET documents?" + q)

    lines = [json.dumps({"id": "bt1", "text": "batch one", "metadata": {"k": 1}}),
             json.dumps({"id": "bt2", "text": "batch two", "priority": "high"}),
             json.dumps({"text": "no id"}),
             "not json",
             json.dumps({"id": "bt3", "text": "bad priority", "priority": "urgent"}),
             json.dumps({"id": "../x", "text": "bad id"}),
             json.dumps({"id": "bt4", "text": "extra", "colour": 1}),
             json.dumps({"id": "bt5", "text": "batch five"})]
    st, hdr, text = raw_call(api, "POST", "/v1/tenants/acme/documents:batch", "\n".join(lines).encode() + b"\n", key,
                             "application/x-ndjson")
    out = [json.loads(x) for x in text.splitlines()] if st == 200 else []
    want = [(1, "bt1", 202, None), (2, "bt2", 202, None), (3, None, 400, "bad_field"), (4, None, 400, "malformed_json"),
            (5, "bt3", 400, "bad_field"), (6, None, 400, "bad_document_id"), (7, None, 400, "unknown_field"),
            (8, "bt5", 202, None)]
    got = [(o["line"], o["id"], o["status"], o.get("error", {}).get("code")) for o in out]
    check(st == 200 and hdr.get("Content-Type") == "application/x-ndjson" and got == want,
          "a batch of 8 lines: one result per line, in order (got %s)" % got)
    check(all(("queue_id" in o) == (o["status"] == 202) for o in out), "queue_id on the stored lines only")
    stored = [api.call("GET", "/v1/tenants/acme/documents/" + d, key=key)[0] for d in ("bt1", "bt2", "bt5", "bt3")]
    check(stored == [200, 200, 200, 404], "the good lines are stored, the refused one is not (%s)" % stored)
    check(api.call("GET", "/v1/tenants/acme/documents/bt1", key=key)[1]["metadata"] == {"k": 1},
          "a batch line's metadata is stored")
    st, _, text = raw_call(api, "POST", "/v1/tenants/acme/documents:batch", b"\n".join(
        json.dumps({"id": "m%d" % i, "text": "t"}).encode() for i in range(1001)), key, "application/x-ndjson")
    check(st == 413 and "1000" in text, "a batch of 1001 lines: 413 naming the maximum")
    st, _, text = raw_call(api, "POST", "/v1/tenants/acme/documents:batch", b'{"id":"x","text":"t"}', key,
                           "application/json")
    check(st == 415 and "x-ndjson" in text, "a batch as application/json: 415 naming x-ndjson")
    st, _, text = raw_call(api, "POST", "/v1/tenants/acme/documents:batch", b'{"id":"x","text":"t"}', skey,
                           "application/x-ndjson")
    check(st == 403 and "ingest" in text, "a batch with a search-only key: 403")
    st, _, text = raw_call(api, "POST", "/v1/tenants/acme/documents:batch", b"", key, "application/x-ndjson")
    check(st == 400, "an empty batch: 400")


def vector_search(api, key):
    """A query vector made by the second implementation of hash2:384
    (tests/reference/test_embed_hash.py) finds its document at similarity 1."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
    import test_embed_hash as ref
    texts = {"v1": "the pump needs a new seal", "v2": "invoice for the blue chairs", "v3": "fever and cough"}
    for d, t in texts.items():
        api.call("PUT", "/v1/tenants/acme/documents/" + d, {"text": t}, key=key)
    for d in texts:
        base.wait_done(api, "acme", d, key)
    for d, t in texts.items():
        vec = [float(x) for x in ref.vector(ref.groups(ref.features("hash2", t.encode())), 384)]
        st, body = api.call("POST", "/v1/tenants/acme/search", {"vector": vec, "k": 1}, key=key)
        top = body["results"][0] if st == 200 and body["results"] else {}
        check(top.get("id") == d and abs(top.get("score", 0) - 1) < 1e-5,
              "a vector query of %s's text finds it at similarity 1 (got %s)" % (d, json.dumps(top)[:120]))
    first = api.call("PUT", "/v1/tenants/acme/documents/v1", {"text": texts["v1"]}, key=key)
    again = api.call("PUT", "/v1/tenants/acme/documents/v1", {"text": texts["v1"]}, key=key)
    check(first[0] == again[0] == 202 and first[1]["queue_id"] == again[1]["queue_id"]
          and api.call("GET", "/v1/tenants/acme/documents/v1", key=key)[1]["status"] == "done",
          "a PUT of the same content is a no-op: same queue id, still done, not embedded again")
    vec = [0.0] * 383 + [1.0]
    check_error(api.call("POST", "/v1/tenants/acme/search", {"vector": vec[:3]}, key=key), 400, "rejected", "384",
                "a vector of 3 numbers for a table of 384")
    check_error(api.call("POST", "/v1/tenants/acme/search", {"vector": [1, "a"]}, key=key), 400, "bad_field",
                "vector", "a vector with a string in it")
    check_error(api.call("POST", "/v1/tenants/acme/search", {"vector": vec, "query": "x"}, key=key), 400, "bad_field",
                "not both", "query and vector together")
    check_error(api.call("POST", "/v1/tenants/acme/search", {"vector": vec, "mode": "hybrid"}, key=key), 400,
                "bad_field", "mode", "a vector in hybrid mode")
    return len(texts) + 2


def chunks_and_types(api, key, data):
    """A document of several chunks is read, replaced under another type and
    deleted whole (the daemon finds its rows by primary key); the tenant's
    file is compared with what was sent."""
    import sqlite3
    words = ["w%03d" % i for i in range(600)]
    text = " ".join(words)
    st, _ = api.call("PUT", "/v1/tenants/acme/documents/long", {"type": "report", "text": text}, key=key)
    body = base.wait_done(api, "acme", "long", key)
    chunks = body["chunks"] if body else []
    got = set(w for c in chunks for w in c.split())
    check(st == 202 and len(chunks) > 1 and got == set(words) and "text" not in body,
          "a 600-word document: %d chunks, together every word" % len(chunks))

    def rows(cid):
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "tenants", "acme.db"), uri=True)
        try:
            return con.execute("SELECT content_type, count(*) FROM vg_queue WHERE content_id = ? GROUP BY 1",
                               (cid,)).fetchall()
        finally:
            con.close()
    st, _ = api.call("PUT", "/v1/tenants/acme/documents/long", {"type": "memo", "text": "now a short memo"}, key=key)
    body = base.wait_done(api, "acme", "long", key)
    check(st == 202 and body and body["type"] == "memo" and body["chunks"] == ["now a short memo"]
          and rows("long") == [("memo", 1)], "PUT under another type replaces every chunk of the old one")
    res = api.call("POST", "/v1/tenants/acme/search", {"query": "w123 w456", "k": 5, "mode": "lexical"}, key=key)[1]
    check(all(r["id"] != "long" for r in res["results"]), "the old type's chunks are not found any more")
    check(api.call("DELETE", "/v1/tenants/acme/documents/long", key=key)[0] == 204
          and api.call("GET", "/v1/tenants/acme/documents/long", key=key)[0] == 404 and rows("long") == [],
          "DELETE removes the document and its queue item")


def report(api, key, data):
    # hand-counted: 1 e-mail; 2 e-mails and a card; nothing
    texts = {"r1": "Write to ann@example.com please",
             "r2": "Mail bob@example.org or eve@example.net, card 4111 1111 1111 1111",
             "r3": "The pump needs a new seal"}
    st, before = api.call("GET", "/v1/tenants/rep/report", key=key)
    check(st == 200 and before["pii"]["documents"] == 0 and before["pii"]["compliance_rate"] is None
          and before["storage"]["documents"] == 0, "the report of an empty tenant")
    for d, t in texts.items():
        api.call("PUT", "/v1/tenants/rep/documents/" + d, {"text": t}, key=key)
    for d in texts:
        base.wait_done(api, "rep", d, key)
    st, body = api.call("GET", "/v1/tenants/rep/report", key=key)
    pii = body["pii"] if st == 200 else {}
    check(pii.get("findings_by_type") == {"EMAIL_ADDRESS": 3, "CREDIT_CARD": 1}, "findings by type: 3 e-mails, 1 card "
          "(got %s)" % pii.get("findings_by_type"))
    check(pii.get("documents") == 3 and pii.get("with_findings") == 2, "3 documents, 2 with findings")
    comp = pii.get("compliance", {})
    check(comp.get("compliant") == 1 and comp.get("blocked") == 1 and comp.get("review") == 1
          and abs(pii.get("compliance_rate", 0) - 1 / 3) < 1e-9, "compliance: 1 of 3 (got %s)" % comp)
    check(sorted((r["content_id"], r["compliance"]) for r in body.get("review", [])) ==
          [("r1", "review"), ("r2", "blocked")], "the review list names r1 and r2")
    check(body.get("queue", {}).get("by_status", {}).get("done") == 3 and body["queue"]["dead"] == 0,
          "queue health: 3 done, none dead")
    path = os.path.join(data, "tenants", "rep.db")
    size = os.path.getsize(path) + (os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0)
    got = body.get("storage", {}).get("bytes", 0)
    check(body.get("storage", {}).get("documents") == 3 and body["storage"]["chunks"] == 3
          and size / 2 <= got <= size * 2, "storage: 3 documents, %d bytes (%d on disk now)" % (got, size))
    st, body = api.call("GET", "/v1/tenants/rep/report?since=2099-01-01T00:00:00Z&until=2099-02-01T00:00:00Z",
                        key=key)
    check(st == 200 and body["pii"]["documents"] == 0 and body["from"].startswith("2099-01-01"),
          "a period with nothing in it")
    # the day the documents were logged on (not today's date, which may
    # have turned since)
    today = api.call("GET", "/v1/tenants/rep/report", key=key)[1]["review"][0]["logged_at"][:10]
    st, body = api.call("GET", "/v1/tenants/rep/report?since=%s&until=%s" % (today, today), key=key)
    check(st == 200 and body["pii"]["documents"] >= 1 and body["to"] == today + "T23:59:59.999Z",
          "until as a date alone is the whole day (%s)" % (body.get("to") if st == 200 else st))
    for q, word in (("since=yesterday", "since"), ("until=13/01/2026", "until"),
                    ("since=2026-02-01&until=2026-01-01", "after"), ("period=1", "period")):
        check_error(api.call("GET", "/v1/tenants/rep/report?" + q, key=key), 400, "bad_parameter", word,
                    "GET report?" + q)
    return texts


def keys(api, admin, data):
    st, body = api.call("POST", "/v1/tenants/rot/keys", {"scopes": ["search", "ingest"]}, key=admin)
    check(st == 201 and body["scopes"] == "search,ingest", "POST keys: a new key")
    k1, id1 = body.get("key"), body.get("key_id")
    check(api.call("GET", "/v1/tenants/rot/documents", key=k1)[0] == 200, "the new key works")
    st, body = api.call("POST", "/v1/tenants/rot/keys/%s/rotate" % id1, {"grace_seconds": 2}, key=admin)
    k2 = body.get("key") if st == 201 else None
    check(st == 201 and body["scopes"] == "search,ingest" and body["key_id"] != id1, "rotate: a key of the same scopes")
    check(api.call("GET", "/v1/tenants/rot/documents", key=k1)[0] == 200
          and api.call("GET", "/v1/tenants/rot/documents", key=k2)[0] == 200, "both keys work during the grace period")
    time.sleep(3.1)
    check_error(api.call("GET", "/v1/tenants/rot/documents", key=k1), 401, "unauthorized", "expired",
                "the old key after its grace period")
    check(api.call("GET", "/v1/tenants/rot/documents", key=k2)[0] == 200, "the new key goes on")
    lst = api.call("GET", "/v1/tenants/rot/keys", key=admin)[1]["keys"]
    check(any(k["key_id"] == id1 and k["expires_at"] for k in lst), "the key list shows expires_at")
    st, body = api.call("POST", "/v1/tenants/rot/keys/%s/rotate" % body["key_id"], {"grace_seconds": 0}, key=admin)
    check(st == 201 and api.call("GET", "/v1/tenants/rot/documents", key=k2)[0] == 401,
          "grace_seconds 0: the old key stops at once")
    k3, id3 = body.get("key"), body.get("key_id")
    check(api.call("DELETE", "/v1/tenants/rot/keys/" + id3, key=admin)[0] == 204
          and api.call("GET", "/v1/tenants/rot/documents", key=k3)[0] == 401, "DELETE a key: revoked at once")
    check_error(api.call("DELETE", "/v1/tenants/rot/keys/" + id3, key=admin), 404, "not_found", id3,
                "DELETE a revoked key")
    # another tenant's key id through this tenant's path
    other = api.call("POST", "/v1/tenants/acme/keys", {"scopes": ["search"]}, key=admin)[1]
    check_error(api.call("DELETE", "/v1/tenants/rot/keys/" + other["key_id"], key=admin), 404, "not_found", "rot",
                "revoke acme's key under /tenants/rot")
    check_error(api.call("POST", "/v1/tenants/rot/keys/%s/rotate" % other["key_id"], {}, key=admin), 404,
                "not_found", "rot", "rotate acme's key under /tenants/rot")
    check(api.call("GET", "/v1/tenants/acme/documents", key=other["key"])[0] == 200, "acme's key still works")
    check_error(api.call("GET", "/v1/tenants/rot/keys", key=other["key"]), 403, "forbidden", "admin",
                "a tenant key on the keys route")
    check_error(api.call("POST", "/v1/tenants/rot/keys", {"scopes": ["admin"]}, key=admin), 400, "bad_field",
                "scopes", "a tenant key with the admin scope")
    check_error(api.call("POST", "/v1/tenants/rot/keys/%s/rotate" % id1, {"grace_seconds": 10 ** 7}, key=admin), 400,
                "bad_field", "grace_seconds", "a grace period over a week")
    check_error(api.call("GET", "/v1/tenants/nobody/keys", key=admin), 404, "not_found", "nobody",
                "keys of no tenant")
    # the command line rotates too
    rc, out, err = cli("key", "create", "rot", "--data-dir", data, "--scopes", "search")
    kid = json.loads(out)["key_id"] if rc == 0 else ""
    rc, out, err = cli("key", "rotate", kid, "--data-dir", data, "--grace", "60")
    check(rc == 0 and json.loads(out)["old_key_expires_at"] > "2026", "vecguardd key rotate --grace 60")
    rc, out, err = cli("key", "rotate", "0123456789abcdef", "--data-dir", data)
    check(rc == 1 and "no live key" in err, "key rotate of an unknown id: exit 1 naming it")


def metrics(api, key, n_put, n_limited):
    st, hdr, text = raw_call(api, "GET", "/metrics", None, None, None)
    check(st == 200 and hdr.get("Content-Type", "").startswith("text/plain; version=0.0.4"), "GET /metrics")
    try:
        p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "promtool check metrics: %s%s" % (p.stdout.strip(), p.stderr.strip()))
    except FileNotFoundError:
        check(False, "promtool (Debian package prometheus) is installed")
    v = metric_values(text)
    route = "/v1/tenants/{tenant}/documents/{id}"
    got = v.get('vecguardd_http_requests_total{route="%s",method="PUT",status="202"}' % route)
    check(got == n_put, "PUT 202s counted: %s of %d" % (got, n_put))
    check(v.get('vecguardd_http_request_duration_seconds_count{route="%s",method="PUT",status="202"}' % route) == n_put
          and v.get('vecguardd_http_request_duration_seconds_bucket{route="%s",method="PUT",status="202",le="+Inf"}'
                    % route) == n_put, "the PUT latency histogram holds them all")
    check(v.get('vecguardd_pii_findings_total{type="EMAIL_ADDRESS"}') == 3
          and v.get('vecguardd_pii_findings_total{type="CREDIT_CARD"}') == 1, "PII findings by type, as sent")
    check(v.get("vecguardd_rate_limited_requests_total") == n_limited, "429s counted: %s of %d" % (
        v.get("vecguardd_rate_limited_requests_total"), n_limited))
    check(v.get("vecguardd_embedded_items_total", 0) >= n_put and v.get("vecguardd_open_tenants", 0) >= 1,
          "embedded items and open tenants")
    check(sum(v.get('vecguardd_queue_pending{priority="%s"}' % p, -1) for p in ("high", "medium", "low")) == 0,
          "nothing pending once every document is done")


def rate_limits(data, admin, key):
    conf = os.path.join(os.path.dirname(data), "limits.ini")
    with open(conf, "w") as f:
        f.write("[limits]\nrequests_per_second = 2\nburst = 3\n")
    proc, api = start(data, "--config", conf)
    limited = 0
    try:
        sts = [raw_call(api, "GET", "/v1/tenants/acme/queue", None, key, None) for _ in range(4)]
        codes = [s[0] for s in sts]
        limited += codes.count(429)
        check(codes[:3] == [200, 200, 200] and codes[3] == 429, "burst 3: the 4th request is 429 (got %s)" % codes)
        wait = int(sts[3][1].get("Retry-After", "0"))
        check(wait >= 1 and json.loads(sts[3][2])["error"]["code"] == "rate_limited", "429 carries Retry-After: %d"
              % wait)
        check(raw_call(api, "GET", "/v1/tenants", None, admin, None)[0] == 200, "another key has its own bucket")
        time.sleep(wait)
        check(raw_call(api, "GET", "/v1/tenants/acme/queue", None, key, None)[0] == 200, "after Retry-After: 200")
        def reload_then_ten(text):
            """The config file becomes text, SIGHUP; then ten quick requests."""
            with open(conf, "w") as f:
                f.write(text)
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            return [raw_call(api, "GET", "/v1/tenants/acme/queue", None, key, None)[0] for _ in range(10)]
        codes = reload_then_ten("[limits]\nrequests_per_second = 0\n")
        check(codes == [200] * 10, "SIGHUP read requests_per_second = 0: no limit (got %s)" % codes)
        codes = reload_then_ten("[limits]\nrequests_per_second = 1\nburst = lots\n")
        check(codes == [200] * 10, "SIGHUP with a bad file keeps the running settings (got %s)" % codes)
        check(raw_call(api, "GET", "/metrics", None, None, None)[2].count(
            "vecguardd_rate_limited_requests_total %d" % limited) == 1, "the 429 is counted")
    finally:
        rc, err = stop(proc)
    check(rc == 0, "SIGTERM after SIGHUP: exit 0")
    lines = [x for x in err.splitlines() if x.strip()]
    events = []
    for x in lines:
        try:
            o = json.loads(x)
            events.append(o["event"])
            ok = {"ts", "level", "event"} <= set(o)
        except (ValueError, KeyError):
            ok = False
        if not ok:
            check(False, "every log line is JSON with ts, level, event: %r" % x)
            break
    check("start" in events and "reload" in events and "stop" in events and events.count("request") >= 15,
          "log lines: start, requests, reload, stop")
    bad = [json.loads(x) for x in lines if '"reload"' in x and '"error"' in x]
    check(len(bad) == 1 and "burst" in bad[0].get("message", "") and "line 3" in bad[0]["message"],
          "the bad reload is one error line naming the file's line and the setting (%s)" % bad)
    check(not any("ann@example.com" in x or "/tenants/acme" in x for x in lines),
          "no document text or path in the logs")


def pool(data, admin):
    """A budget of 4 tenant connections, 9 tenants in turn."""
    env = dict(os.environ, VECGUARDD_SERVER_MAX_OPEN_FILES=str(256 + 32 + 3 * 4),
               VECGUARDD_LIMITS_REQUESTS_PER_SECOND="0")
    proc, api = start(data, env=env)
    try:
        keys = {}
        for i in range(9):
            st, body = api.call("POST", "/v1/tenants", {"tenant": "pool%d" % i}, key=admin)
            keys["pool%d" % i] = body.get("key")
        codes = set()
        for r in range(3):
            for t, k in keys.items():
                codes.add(api.call("PUT", "/v1/tenants/%s/documents/d%d" % (t, r), {"text": "round %d" % r}, key=k)[0])
                codes.add(api.call("POST", "/v1/tenants/%s/search" % t, {"query": "round"}, key=k)[0])
        check(codes == {202, 200}, "54 requests over 9 tenants with 4 connections: all answered (%s)" % codes)
        v = metric_values(raw_call(api, "GET", "/metrics", None, None, None)[2])
        check(v.get("vecguardd_connection_limit") == 4 and v.get("vecguardd_open_connections", 99) <= 4
              and v.get("vecguardd_connections_evicted_total", 0) > 0,
              "the pool stays within 4, closing idle ones (%s open, %s evicted)" % (
                  v.get("vecguardd_open_connections"), v.get("vecguardd_connections_evicted_total")))
        fds = len(os.listdir("/proc/%d/fd" % proc.pid))
        check(fds < 64, "the daemon holds %d descriptors" % fds)
        for t, k in keys.items():
            body = base.wait_done(api, t, "d2", k)
            if body is None:
                check(False, "%s's documents are embedded" % t)
                break
    finally:
        rc, _ = stop(proc)
    check(rc == 0, "SIGTERM: exit 0")
    rc, out, err = cli("check", "--data-dir", data)
    rows = [json.loads(x) for x in out.splitlines()]
    check(rc == 0 and len(rows) >= 9 and all(r["ok"] and r["integrity_check"] == "ok" and r["hnsw_check"]["ok"]
                                             for r in rows), "vecguardd check: every tenant ok")
    import sqlite3
    path = os.path.join(data, "tenants", "pool3.db")
    con = sqlite3.connect(path)
    root, = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'vg_queue'").fetchone()
    page, = con.execute("PRAGMA page_size").fetchone()
    con.close()
    with open(path, "r+b") as f:  # the queue's root page: a b-tree page type that does not exist
        f.seek((root - 1) * page)
        f.write(b"\x07")
    rc, out, err = cli("check", "--data-dir", data, "--tenant", "pool3")
    check(rc == 1 and not json.loads(out)["ok"], "vecguardd check: a damaged tenant file is not ok, exit 1 (%s)"
          % out.strip()[:300])


def per_tenant(data, key):
    """connections_per_tenant = 1: eight clients searching one tenant at once
    share one connection (one copy of its index), and all are answered."""
    import threading
    env = dict(os.environ, VECGUARDD_SERVER_CONNECTIONS_PER_TENANT="1", VECGUARDD_LIMITS_REQUESTS_PER_SECOND="0")
    proc, api = start(data, env=env)
    codes = []
    try:
        def client():
            for _ in range(5):
                codes.append(api.call("POST", "/v1/tenants/acme/search", {"query": "page test"}, key=key)[0])
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        v = metric_values(raw_call(api, "GET", "/metrics", None, None, None)[2])
        check(codes == [200] * 40, "40 searches from 8 clients at once: all 200 (%s)" % sorted(set(codes)))
        # the workers' first visit opens one connection per tenant; the eight
        # clients of acme add none beyond its one
        n = len(base.cli("tenant", "list", "--data-dir", data)[1] and json.loads(base.cli(
            "tenant", "list", "--data-dir", data)[1]))
        check(v.get("vecguardd_connections_opened_total", 99) <= n,
              "one connection of acme served them all (%s opened for %d tenants)"
              % (v.get("vecguardd_connections_opened_total"), n))
    finally:
        rc, _ = stop(proc)
    check(rc == 0, "SIGTERM: exit 0")


def settings(data):
    env = dict(os.environ, VECGUARDD_SERVER_MAX_BODY_BYTES="100")
    proc, api = start(data, env=env)
    try:
        check(raw_call(api, "PUT", "/v1/tenants/acme/documents/big", b"{" + b" " * 200 + b"}", "k",
                       "application/json")[0] == 413, "VECGUARDD_SERVER_MAX_BODY_BYTES=100: a body of 202 gets 413")
        # declared far over the limit: answered before any of it is sent
        port = int(api.base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"PUT /v1/tenants/acme/documents/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nContent-Length: 1000000000\r\n\r\n")
            t0 = time.time()
            reply = sock.recv(4096)
        check(reply.startswith(b"HTTP/1.1 413") and b"too_large" in reply and time.time() - t0 < 5,
              "a declared 1 GB body: 413 before the body is sent")
    finally:
        stop(proc)
    p = subprocess.run([base.DAEMON, "serve", "--data-dir", data, "--listen", "127.0.0.1:1"], capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, VECGUARDD_SERVER_WORKERS="many"))
    check(p.returncode == 2 and "VECGUARDD_SERVER_WORKERS" in p.stderr and "0 to 64" in p.stderr,
          "a bad environment value: exit 2 naming the variable and the range")
    conf = os.path.join(os.path.dirname(data), "bad.ini")
    with open(conf, "w") as f:
        f.write("[server]\nmax_open_files = 10\n")
    p = subprocess.run([base.DAEMON, "serve", "--data-dir", data, "--listen", "127.0.0.1:1", "--config", conf],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "max_open_files" in p.stderr, "max_open_files below its minimum: exit 2")


def tls(data, tmp):
    cert, keyf = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyf, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        check(False, "openssl made a test certificate: " + p.stderr)
        return
    env = dict(os.environ, VECGUARDD_SERVER_TLS_CERT=cert, VECGUARDD_SERVER_TLS_KEY=keyf)
    port = base.free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([base.DAEMON, "serve", "--data-dir", data, "--listen", "127.0.0.1:%d" % port],
                            stderr=log, text=True, env=env)
    proc.log = log  # as base.start does, for base.stop
    ctx = ssl.create_default_context(cafile=cert)
    body = None
    for _ in range(100):
        try:
            with urllib.request.urlopen("https://127.0.0.1:%d/healthz" % port, context=ctx, timeout=10) as r:
                body = json.loads(r.read())
                break
        except OSError:
            time.sleep(0.05)
    check(body == {"status": "ok"}, "TLS: GET https://…/healthz with the configured certificate")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            reply = s.recv(100)
        except OSError:
            reply = b""
    check(not reply.startswith(b"HTTP/1.1 200"), "TLS: plain HTTP gets no answer")
    rc, _ = stop(proc)
    check(rc == 0, "TLS: SIGTERM, exit 0")
    env = dict(os.environ, VECGUARDD_SERVER_TLS_CERT=cert)
    p = subprocess.run([base.DAEMON, "serve", "--data-dir", data, "--listen", "127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=30, env=env)
    check(p.returncode == 1 and "tls_key" in p.stderr, "tls_cert without tls_key: exit 1 naming tls_key")


def main():
    tmp = tempfile.mkdtemp(prefix="vgd-api-")
    data = os.path.join(tmp, "data")
    rc, out, _ = cli("tenant", "create", "acme", "--data-dir", data)
    key = json.loads(out)["key"]
    admin = open(os.path.join(data, "admin.key")).read().strip()
    proc, api = start(data)
    n_put = 0
    try:
        skey = api.call("POST", "/v1/tenants/acme/keys", {"scopes": ["search"]}, key=admin)[1]["key"]
        for t in ("rep", "rot"):
            api.call("POST", "/v1/tenants", {"tenant": t}, key=admin)
        rkey = api.call("POST", "/v1/tenants/rep/keys", {"scopes": ["search", "ingest"]}, key=admin)[1]["key"]
        documents_and_batches(api, key, skey)
        n_put += 7
        n_put += vector_search(api, key)
        chunks_and_types(api, key, data)
        n_put += 2
        n_put += len(report(api, rkey, data))
        check(api.call("GET", "/readyz")[0] == 200, "readyz: the worker runs")
        # the data directory's disk gone (here: DIR/tenants moved away)
        os.rename(os.path.join(data, "tenants"), os.path.join(data, "tenants.away"))
        try:
            check_error(api.call("GET", "/readyz"), 503, "unavailable", "not writable", "readyz without DIR/tenants")
        finally:
            os.rename(os.path.join(data, "tenants.away"), os.path.join(data, "tenants"))
        check(api.call("GET", "/readyz")[0] == 200, "readyz once DIR/tenants is back")
        port = int(api.base.rsplit(":", 1)[1])
        for path, auth, want in (("/healthz", "", b"200"), ("/v1/tenants/acme/queue", "Authorization: Bearer %s\r\n" % key,
                                                             b"200"), ("/v1/tenants", "", b"401")):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(("HEAD %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % (path, auth)).encode())
                reply = b""
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
            head, _, rest = reply.partition(b"\r\n\r\n")
            check(head.startswith(b"HTTP/1.1 " + want) and rest == b"" and
                  (want != b"401" or b'WWW-Authenticate: Bearer realm="vecguardd"' in head),
                  "HEAD %s: %s, headers only%s" % (path, want.decode(), ", WWW-Authenticate" if want == b"401" else ""))
        for d in ("p01", "p03", "p05", "p07", "p09", "p11", "p13", "bt1", "bt2", "bt5"):
            base.wait_done(api, "acme", d, key)
        metrics(api, key, n_put, 0)
        keys(api, admin, data)
    finally:
        rc, err = stop(proc)
    check(rc == 0, "SIGTERM: exit 0 (got %s)" % rc)
    if rc != 0:
        print(err)
    rate_limits(data, admin, key)
    per_tenant(data, key)
    pool(data, admin)
    settings(data)
    tls(data, tmp)
    base.openapi_coverage(base.API_TEST_ROUTES)
    base.finish(tmp)


if __name__ == "__main__":
    main()
