#!/usr/bin/python3
"""vecguardd end to end: the real daemon on a free loopback port in a
temporary data directory, driven with urllib (docs/appliance.md's requests)."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
try:
    import openapi_check  # docs/openapi.yaml: every response is checked against it
except ImportError as e:
    sys.exit("test_vecguardd.py: %s: install python3-yaml and python3-jsonschema (scripts/install-deps.sh)" % e)

HERE = os.path.dirname(os.path.abspath(__file__))
DAEMON = os.environ.get("VG_DAEMON") or os.path.join(HERE, "..", "..", "build", "vecguardd")
failures = []
SPEC = openapi_check.Spec()
# Operations of docs/openapi.yaml that test_vecguardd_api.py covers (and
# checks that it did): this test does not fail when it leaves them out.
API_TEST_ROUTES = {
    "GET /metrics",
    "GET /v1/tenants/{tenant}/documents",
    "POST /v1/tenants/{tenant}/documents:batch",
    "GET /v1/tenants/{tenant}/report",
    "GET /v1/tenants/{tenant}/keys",
    "POST /v1/tenants/{tenant}/keys",
    "DELETE /v1/tenants/{tenant}/keys/{key_id}",
    "POST /v1/tenants/{tenant}/keys/{key_id}/rotate",
}
# test_sync_daemon.py's: a server with a [sync] target.
SYNC_TEST_ROUTES = {"GET /v1/tenants/{tenant}/sync"}
responses_checked = [0]


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def cli(*args):
    p = subprocess.run([DAEMON, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def call(self, method, path, body=None, key=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None and ctype:
            req.add_header("Content-Type", ctype)
        if key:
            req.add_header("Authorization", "Bearer " + key)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                st, headers, text = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            st, headers, text = e.code, e.headers, e.read()
        # every response against docs/openapi.yaml: status, Content-Type, body
        responses_checked[0] += 1
        for problem in SPEC.check_response(method, path, st, headers.get("Content-Type"), text, dict(headers)):
            check(False, "openapi: " + problem)
        return st, json.loads(text) if text else None


def check_error(got, status, code, word, what):
    st, body = got
    ok = (st == status and isinstance(body, dict) and set(body) == {"error"}
          and body["error"].get("code") == code and word in body["error"].get("message", ""))
    check(ok, "%s -> %d %s naming %r (got %d %s)" % (what, status, code, word, st, json.dumps(body)))


def start(data_dir, *extra, env=None):
    for _ in range(5):
        port = free_port()
        # its log to a file: a pipe nobody reads would stop the daemon once full
        log = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen([DAEMON, "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:%d" % port,
                                 *extra], stderr=log, text=True, env=env)
        proc.log = log
        api = Api(port)
        for _ in range(100):
            if proc.poll() is not None:
                break
            try:
                if api.call("GET", "/healthz")[0] == 200:
                    return proc, api
            except OSError:
                pass
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    sys.exit("vecguardd did not start")


def stop(proc, timeout=60):
    """SIGTERM: its exit status ("hung" when it did not end in time) and log."""
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = "hung"
    proc.log.seek(0)
    return rc, proc.log.read()


def finish(tmp):
    """The test's end: exit 1 after a failure, else remove tmp."""
    if failures:
        print("%d failed" % len(failures))
        sys.exit(1)
    subprocess.run(["rm", "-rf", tmp])
    print("all passed")


def wait_done(api, tenant, doc, key):
    for _ in range(200):
        st, body = api.call("GET", "/v1/tenants/%s/documents/%s" % (tenant, doc), key=key)
        if st == 200 and body["status"] == "done":
            return body
        time.sleep(0.05)
    return None


def fairness(data, ak):
    """A backlog queued with --workers 0; with one worker, another tenant's
    single document is embedded long before the backlog is done."""
    proc, api = start(data, "--workers", "0")
    try:
        st, body = api.call("POST", "/v1/tenants", {"tenant": "small"}, key=open(os.path.join(data, "admin.key")).read().strip())
        sk = body.get("key", "")
        n = 300
        ok = all(api.call("PUT", "/v1/tenants/acme/documents/b%d" % i, {"text": "backlog item %d of many" % i},
                          key=ak)[0] == 202 for i in range(n))
        check(ok and api.call("PUT", "/v1/tenants/small/documents/s1", {"text": "the small tenant"}, key=sk)[0] == 202,
              "a backlog of %d for acme and one document for small, with no worker" % n)
        time.sleep(0.3)
        check(api.call("GET", "/v1/tenants/small/documents/s1", key=sk)[1]["status"] == "pending",
              "--workers 0 embeds nothing")
    finally:
        check(stop(proc, 30)[0] == 0, "SIGTERM with no workers: exit 0")
    conf = os.path.join(os.path.dirname(data), "vecguardd.ini")
    with open(conf, "w") as f:
        f.write("[server]\nworkers = 1\nmax_body_bytes = 4096\n[workers]\nidle_ms = 50\n")
    proc, api = start(data, "--config", conf)
    try:
        check(wait_done(api, "small", "s1", sk) is not None, "small's document is embedded")
        check_error(api.call("PUT", "/v1/tenants/small/documents/s2", {"text": "x" * 5000}, key=sk), 413,
                    "too_large", "4096", "max_body_bytes from the config file")
        import sqlite3

        def finished(tenant, sql):
            con = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "tenants", tenant + ".db"), uri=True)
            try:
                return con.execute(sql).fetchone()[0]
            finally:
                con.close()
        at = finished("small", "SELECT finished_at FROM vg_queue WHERE content_id = 's1'")
        before = finished("acme", "SELECT count(*) FROM vg_queue WHERE finished_at < %r" % at)
        check(before <= 2 * 64, "round-robin: small was done after %d of acme's %d (two batches at most)"
              % (before, n))
    finally:
        check(stop(proc, 60)[0] == 0, "SIGTERM during a backlog: exit 0")


def backups(data):
    """POST /backup while serving, the backup command, then restore with the
    daemon stopped: every document and the search results are as they were."""
    admin = open(os.path.join(data, "admin.key")).read().strip()
    proc, api = start(data)
    try:
        st, body = api.call("POST", "/v1/tenants", {"tenant": "bk"}, key=admin)
        bk = body.get("key", "")
        ids = ["b%d" % i for i in range(6)]
        for i, d in enumerate(ids):
            api.call("PUT", "/v1/tenants/bk/documents/" + d,
                     {"text": "Backup document %d about %s." % (i, ["fever", "shop", "river"][i % 3]),
                      "metadata": {"n": i}}, key=bk)
        check(all(wait_done(api, "bk", d, bk) is not None for d in ids), "bk's documents are embedded")
        docs = {d: api.call("GET", "/v1/tenants/bk/documents/" + d, key=bk) for d in ids}
        queries = ["fever", "shop", "river document"]
        found = {q: api.call("POST", "/v1/tenants/bk/search", {"query": q, "k": 10}, key=bk)[1]["results"]
                 for q in queries}
        st, body = api.call("POST", "/v1/tenants/bk/backup", key=bk)
        path = os.path.join(data, "backups", body.get("backup", "?") if isinstance(body, dict) else "?")
        check(st == 201 and body["backup"].startswith("bk-") and body["backup"].endswith("Z.db")
              and os.path.getsize(path) == body["bytes"],
              "POST /v1/tenants/bk/backup while serving (got %d %s)" % (st, json.dumps(body)))
        check(found["fever"] and found["shop"], "bk's searches find documents")
        check(os.listdir(os.path.join(data, "backups")) == [body["backup"]], "the backup alone, no temp file")
        check_error(api.call("POST", "/v1/tenants/bk/backup", key=admin), 403, "forbidden", "bk",
                    "backup with the admin key")
        rc, out, _ = cli("key", "create", "bk", "--data-dir", data, "--scopes", "search")
        check_error(api.call("POST", "/v1/tenants/bk/backup", key=json.loads(out)["key"]), 403, "forbidden",
                    "ingest", "backup with a search-only key")
        check_error(api.call("GET", "/v1/tenants/bk/backup", key=bk), 405, "method_not_allowed", "POST",
                    "GET the backup route")
        cli_copy = os.path.join(os.path.dirname(data), "bk-cli.db")
        rc, out, err = cli("backup", "--data-dir", data, "--tenant", "bk", "--to", cli_copy)
        check(rc == 0 and json.loads(out)["bytes"] == os.path.getsize(cli_copy),
              "backup --to FILE while serving (%s)" % err.strip())
        rc, _, err = cli("backup", "--data-dir", data, "--tenant", "bk", "--to", cli_copy)
        check(rc == 1 and "File exists" in err, "backup --to an existing file is refused")
        # after the backup: two documents deleted, one added, one replaced
        check(api.call("DELETE", "/v1/tenants/bk/documents/b1", key=bk)[0] == 204
              and api.call("DELETE", "/v1/tenants/bk/documents/b4", key=bk)[0] == 204, "delete b1 and b4")
        api.call("PUT", "/v1/tenants/bk/documents/b9", {"text": "After the backup"}, key=bk)
        api.call("PUT", "/v1/tenants/bk/documents/b0", {"text": "Changed after the backup"}, key=bk)
        check(wait_done(api, "bk", "b9", bk) is not None, "b9 is embedded")
        rc, _, err = cli("restore", "--data-dir", data, "--tenant", "bk", "--from", path)
        check(rc == 1 and "stop it" in err, "restore refused while serving")
    finally:
        check(stop(proc, 30)[0] == 0, "SIGTERM before the restore: exit 0")
    junk = os.path.join(os.path.dirname(data), "junk.db")
    with open(junk, "wb") as f:
        f.write(b"not a database" * 100)
    rc, _, err = cli("restore", "--data-dir", data, "--tenant", "bk", "--from", junk)
    check(rc == 1 and "not a vecguardd tenant" in err, "restore from a file that is not a database is refused")
    import sqlite3
    other = os.path.join(os.path.dirname(data), "other.db")
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    rc, _, err = cli("restore", "--data-dir", data, "--tenant", "bk", "--from", other)
    check(rc == 1 and "no documents table" in err, "restore from a database that is no tenant's is refused")
    rc, _, err = cli("restore", "--data-dir", data, "--tenant", "nobody", "--from", path)
    check(rc == 1 and "no tenant" in err, "restore into a tenant that does not exist is refused")
    rc, _, err = cli("restore", "--data-dir", data, "--tenant", "bk", "--from", path)
    check(rc == 0, "restore --from the backup (%s)" % err.strip())
    check(sorted(f for f in os.listdir(os.path.join(data, "tenants")) if "bk" in f) == ["bk.db"],
          "no temp file, no old WAL is left")
    con = sqlite3.connect(os.path.join(data, "tenants", "bk.db"))
    check(con.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "the restored file is in WAL mode")
    con.close()
    proc, api = start(data)
    try:
        now = {d: api.call("GET", "/v1/tenants/bk/documents/" + d, key=bk) for d in ids}
        check(now == docs, "every document is as at the backup (b0 unchanged, b1 and b4 back)")
        check_error(api.call("GET", "/v1/tenants/bk/documents/b9", key=bk), 404, "not_found", "b9",
                    "b9, added after the backup, is gone")
        again = {q: api.call("POST", "/v1/tenants/bk/search", {"query": q, "k": 10}, key=bk)[1]["results"]
                 for q in queries}
        check(again == found, "search results are as at the backup")
        st, body = api.call("GET", "/v1/tenants/bk/queue", key=bk)
        check(st == 200 and body["by_status"]["done"] == len(ids), "the restored queue has its 6 done items")
        # the server writes to the restored file as to any tenant's
        api.call("PUT", "/v1/tenants/bk/documents/b7", {"text": "After the restore"}, key=bk)
        check(wait_done(api, "bk", "b7", bk) is not None, "a document put after the restore is embedded")
    finally:
        check(stop(proc, 30)[0] == 0, "SIGTERM after the restore: exit 0")


def notify(data):
    """Under systemd's Type=notify: READY=1 once it listens, STOPPING=1 at SIGTERM."""
    path = os.path.join(os.path.dirname(data), "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    proc, api = start(data, env=dict(os.environ, NOTIFY_SOCKET=path))
    try:
        check(sock.recv(256) == b"READY=1", "READY=1 on $NOTIFY_SOCKET")
    finally:
        check(stop(proc, 30)[0] == 0, "SIGTERM under NOTIFY_SOCKET: exit 0")
    check(sock.recv(256) == b"STOPPING=1", "STOPPING=1 on $NOTIFY_SOCKET")
    sock.close()


def openapi_coverage(mine):
    """Every operation of docs/openapi.yaml in mine was seen with a 2xx
    reply in this process, and responses were checked at all."""
    ops = {"%s %s" % op for op in SPEC.operations()}
    check(mine <= ops, "the operations to cover are docs/openapi.yaml's (not: %s)" % ", ".join(sorted(mine - ops)))
    check(responses_checked[0] > 0, "%d responses checked against docs/openapi.yaml" % responses_checked[0])
    uncovered = set(SPEC.uncovered())
    for op in sorted(mine & uncovered):
        check(False, "openapi: %s is never tested with a 2xx reply" % op)
    print("openapi: %d operations seen with a 2xx reply here" % len(ops - uncovered))


def main():
    tmp = tempfile.mkdtemp(prefix="vecguardd-")
    data = os.path.join(tmp, "data")

    # ---- commands
    rc, out, err = cli("--help")
    check(rc == 0 and "vecguardd serve" in out, "--help")
    for args in (["tenant", "--help"], ["key", "--help"], ["serve", "--help"]):
        rc, out, _ = cli(*args)
        check(rc == 0 and "usage" in out, " ".join(args))
    rc, _, err = cli("tenant", "create", "acme")
    check(rc == 2 and "--data-dir" in err, "tenant create without --data-dir: exit 2 naming --data-dir")
    rc, _, err = cli("frobnicate")
    check(rc == 2 and "frobnicate" in err, "unknown command: exit 2")
    for bad in ["..", "a/b", "A", "x" * 65, "", "a.b", "é", "_a"]:
        rc, _, err = cli("tenant", "create", bad, "--data-dir", data)
        check(rc == 2 and "tenant id" in err, "tenant create %r: exit 2" % bad)
    rc, _, err = cli("tenant", "create", "-a", "--data-dir", data)
    check(rc == 2 and "-a" in err, "tenant create -a: exit 2 (an unknown option)")
    rc, out, err = cli("tenant", "create", "acme", "--data-dir", data)
    acme = json.loads(out) if rc == 0 else {}
    check(rc == 0 and acme.get("tenant") == "acme" and acme.get("key", "").startswith("vgk_"), "tenant create acme")
    rc, out, err = cli("tenant", "create", "acme", "--data-dir", data)
    check(rc == 1 and "exists" in err, "tenant create twice fails")
    rc, out, _ = cli("tenant", "list", "--data-dir", data)
    check(rc == 0 and json.loads(out) == ["acme"], "tenant list")
    rc, out, _ = cli("key", "create", "acme", "--scopes", "search", "--data-dir", data)
    search_only = json.loads(out) if rc == 0 else {}
    check(rc == 0 and search_only.get("key_id"), "key create --scopes search")
    rc, _, err = cli("key", "create", "acme", "--scopes", "root", "--data-dir", data)
    check(rc == 1 and "scopes" in err, "key create with a bad scope fails naming scopes")
    bad_conf = os.path.join(tmp, "bad.ini")
    with open(bad_conf, "w") as f:
        f.write("[server]\ncolour = red\n")
    rc, _, err = cli("serve", "--config", bad_conf, "--data-dir", data, "--listen", "127.0.0.1:1")
    check(rc == 2 and "colour" in err, "an unknown setting in the config file: exit 2 naming it")
    rc, _, err = cli("serve", "--data-dir", data)
    check(rc == 2 and "--listen" in err, "serve without --listen: exit 2 naming --listen")
    rc, _, err = cli("serve", "--data-dir", data, "--listen", "127.0.0.1:1", "--workers", "many")
    check(rc == 2 and "--workers" in err, "serve --workers many: exit 2")
    rc, _, err = cli("key", "revoke", "0123456789abcdef", "--data-dir", data)
    check(rc == 1 and "no live key" in err, "key revoke of an unknown id: exit 1")
    rc, out, _ = cli("key", "list", "acme", "--data-dir", data)
    keys = json.loads(out) if rc == 0 else []
    check(rc == 0 and len(keys) == 2 and all("key" not in k and "hash" not in k for k in keys),
          "key list shows two keys, no secrets")
    st = os.stat(os.path.join(data, "secret"))
    check(st.st_mode & 0o777 == 0o600, "DIR/secret is 0600")
    check(os.stat(os.path.join(data, "admin.key")).st_mode & 0o777 == 0o600, "DIR/admin.key is 0600")
    admin = open(os.path.join(data, "admin.key")).read().strip()
    keysdb = open(os.path.join(data, "keys.db"), "rb").read()
    check(acme["key"].encode() not in keysdb and admin.encode() not in keysdb, "keys.db holds no key in clear")

    proc, api = start(data, "--workers", "2")
    ak = acme["key"]
    try:
        check(api.call("GET", "/healthz") == (200, {"status": "ok"}), "GET /healthz")
        check(api.call("GET", "/readyz")[0] == 200, "GET /readyz")

        # ---- tenants through the API
        st, body = api.call("POST", "/v1/tenants", {"tenant": "globex"}, key=admin)
        check(st == 201 and body["tenant"] == "globex" and body["key"].startswith("vgk_"), "POST /v1/tenants")
        gk = body.get("key", "")
        check_error(api.call("POST", "/v1/tenants", {"tenant": "globex"}, key=admin), 409, "conflict", "exists",
                    "POST /v1/tenants twice")
        check_error(api.call("POST", "/v1/tenants", {"tenant": "a/b"}, key=admin), 400, "bad_tenant", "tenant",
                    "POST /v1/tenants a/b")
        check_error(api.call("POST", "/v1/tenants", {"tenant": "x"}, key=ak), 403, "forbidden", "admin",
                    "POST /v1/tenants with a tenant key")
        check_error(api.call("POST", "/v1/tenants", {"tenant": "x"}), 401, "unauthorized", "Bearer",
                    "POST /v1/tenants without a key")
        check_error(api.call("POST", "/v1/tenants", {"tenant": "x"}, key="vgk_nope"), 401, "unauthorized", "unknown",
                    "POST /v1/tenants with a bad key")
        st, body = api.call("GET", "/v1/tenants", key=admin)
        check(st == 200 and body == {"tenants": ["acme", "globex"]}, "GET /v1/tenants")

        # ---- documents
        st, body = api.call("PUT", "/v1/tenants/acme/documents/d1",
                            {"type": "note", "text": "Write to ana.lopez@example.com about the fever and cough.",
                             "metadata": {"lang": "en"}, "priority": "high"}, key=ak)
        check(st == 202 and body["id"] == "d1" and isinstance(body["queue_id"], int), "PUT document d1")
        st, _ = api.call("PUT", "/v1/tenants/acme/documents/d2",
                         {"text": "Opening hours of the shop on Sunday.", "metadata": {"lang": "es"}}, key=ak)
        check(st == 202, "PUT document d2")
        st, _ = api.call("PUT", "/v1/tenants/globex/documents/g1", {"text": "Fever clinic of globex."}, key=gk)
        check(st == 202, "PUT globex document (got %d %s)" % (st, _))
        d1 = wait_done(api, "acme", "d1", ak)
        check(d1 is not None, "workers embed d1")
        check(d1 is not None and d1["type"] == "note" and d1["metadata"] == {"lang": "en"}
              and "<EMAIL_ADDRESS>" in d1["text"] and "ana.lopez" not in json.dumps(d1), "GET d1 is redacted")
        check(wait_done(api, "acme", "d2", ak) is not None and wait_done(api, "globex", "g1", gk) is not None,
              "workers embed d2 and globex's g1")

        # ---- the queue: counts, and a dead item (made by hand through the file) with its error
        st, body = api.call("GET", "/v1/tenants/acme/queue", key=ak)
        check(st == 200 and body["by_status"]["done"] == 2 and body["by_status"]["pending"] == 0
              and body["by_priority"]["high"] + body["by_priority"]["medium"] >= 0 and body["dead"] == []
              and {"items_per_second", "eta_seconds", "oldest_pending_age"} <= set(body),
              "GET /v1/tenants/acme/queue counts d1 and d2 done (got %d %s)" % (st, json.dumps(body)))
        api.call("PUT", "/v1/tenants/acme/documents/dq", {"text": "Doomed item"}, key=ak)
        check(wait_done(api, "acme", "dq", ak) is not None, "dq is embedded")
        import sqlite3
        con = sqlite3.connect(os.path.join(data, "tenants", "acme.db"), timeout=10)
        with con:
            con.execute("UPDATE vg_queue SET status = 'dead', last_error = 'model refused the text'"
                        " WHERE content_id = 'dq'")
        con.close()
        st, body = api.call("GET", "/v1/tenants/acme/queue", key=search_only["key"])
        check(st == 200 and body["by_status"]["dead"] == 1 and body["by_status"]["done"] == 2
              and len(body["dead"]) == 1 and body["dead"][0]["content_id"] == "dq"
              and body["dead"][0]["error"] == "model refused the text" and isinstance(body["dead"][0]["id"], int),
              "the queue lists the dead item with its error, for a search key (got %d %s)" % (st, json.dumps(body)))
        check_error(api.call("POST", "/v1/tenants/acme/queue", {}, key=ak), 405, "method_not_allowed", "GET",
                    "POST the queue")
        check_error(api.call("GET", "/v1/tenants/globex/queue", key=ak), 403, "forbidden", "globex",
                    "acme's key on globex's queue")
        check(api.call("DELETE", "/v1/tenants/acme/documents/dq", key=ak) == (204, None), "DELETE dq")
        st, body = api.call("POST", "/v1/tenants/acme/search", {"query": "fever", "k": 5}, key=ak)
        check(st == 200 and body["results"] and body["results"][0]["id"] == "d1"
              and body["results"][0]["type"] == "note" and "fever" in body["results"][0]["snippet"]
              and isinstance(body["took_ms"], float), "search finds d1 first")
        check(st == 200 and all(r["id"] != "g1" for r in body["results"]), "search stays in the tenant")
        st, body = api.call("POST", "/v1/tenants/acme/search",
                            {"query": "shop", "k": 5, "filters": {"$.lang": "es"}, "mode": "lexical"}, key=ak)
        check(st == 200 and [r["id"] for r in body["results"]] == ["d2"], "search with a filter and a mode")
        st, body = api.call("POST", "/v1/tenants/acme/search", {"query": "fever", "threshold": 2.0}, key=ak)
        check(st == 200 and body["results"] == [], "search with a threshold above every score")
        st, body = api.call("POST", "/v1/tenants/acme/search", {"query": "fever"}, key=search_only["key"])
        check(st == 200, "search with a search-only key")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d9", {"text": "x"}, key=search_only["key"]),
                    403, "forbidden", "ingest", "PUT with a search-only key")
        rc, _, _ = cli("key", "revoke", search_only["key_id"], "--data-dir", data)
        check(rc == 0, "key revoke")
        check_error(api.call("POST", "/v1/tenants/acme/search", {"query": "fever"}, key=search_only["key"]),
                    401, "unauthorized", "revoked", "a revoked key at once")
        db = open(os.path.join(data, "tenants", "acme.db"), "rb").read()
        wal_path = os.path.join(data, "tenants", "acme.db-wal")
        db += open(wal_path, "rb").read() if os.path.exists(wal_path) else b""
        check(b"ana.lopez" not in db and b"example.com" not in db, "the e-mail address is nowhere in acme's files")

        # ---- errors
        check_error(api.call("GET", "/v1/tenants/acme/documents/nope", key=ak), 404, "not_found", "nope",
                    "GET a missing document")
        check_error(api.call("GET", "/v1/nothing", key=ak), 404, "not_found", "/v1/nothing", "unknown route")
        check_error(api.call("GET", "/v1/nothing%FF", key=ak), 404, "not_found", "UTF-8",
                    "unknown route that is not UTF-8")
        check_error(api.call("POST", "/healthz", {}), 405, "method_not_allowed", "GET", "POST /healthz")
        check_error(api.call("PATCH", "/v1/tenants/acme/documents/d1", {}, key=ak), 405, "method_not_allowed",
                    "PUT", "PATCH a document")
        check_error(api.call("GET", "/v1/tenants/globex/documents/g1", key=ak), 403, "forbidden", "globex",
                    "acme's key on globex")
        check_error(api.call("POST", "/v1/tenants/globex/search", {"query": "fever"}, key=ak), 403, "forbidden",
                    "globex", "acme's key searching globex")
        check_error(api.call("GET", "/v1/tenants/ghost/documents/x", key=ak), 403, "forbidden", "ghost",
                    "acme's key on a tenant that does not exist")
        for bad in ["..", "%2e%2e", "ACME", "x" * 65, "a.b", "%00", "%C3%A9", "a%2Fb"]:
            check_error(api.call("GET", "/v1/tenants/%s/documents/d1" % bad, key=ak), 400, "bad_tenant",
                        "tenant id", "tenant %r in the path" % bad)
            check_error(api.call("DELETE", "/v1/tenants/%s" % bad, key=admin), 400, "bad_tenant", "tenant id",
                        "DELETE tenant %r" % bad)
        check_error(api.call("GET", "/v1/tenants/acme/documents/..", key=ak), 400, "bad_document_id", "document id",
                    "document id ..")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", raw=b"x" * (1024 * 1024 + 1), key=ak), 413,
                    "too_large", "1048576", "body over 1 MiB")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", raw=b'{"text": "a",', key=ak), 400,
                    "malformed_json", "line 1", "malformed JSON")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", raw=b'[1]', key=ak), 400,
                    "bad_request", "object", "a body that is not an object")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", {"text": "a", "colour": "red"}, key=ak), 400,
                    "unknown_field", "colour", "unknown field")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", {"text": 5}, key=ak), 400, "bad_field",
                    "text", "text of the wrong type")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", {"type": "a"}, key=ak), 400, "bad_field",
                    "text", "text missing")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", {"text": "a", "priority": "now"}, key=ak),
                    400, "bad_field", "priority", "bad priority")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", {"text": "a", "metadata": {"x": [1]}}, key=ak),
                    400, "rejected", "metadata", "metadata with an array value")
        check_error(api.call("PUT", "/v1/tenants/acme/documents/d3", {"text": "a"}, key=ak, ctype="text/plain"),
                    415, "unsupported_media_type", "application/json", "a body that is not JSON")
        check_error(api.call("POST", "/v1/tenants/acme/search", {"query": "a", "k": "5"}, key=ak), 400, "bad_field",
                    "k", "k of the wrong type")
        check_error(api.call("POST", "/v1/tenants/acme/search", {"query": "a", "filters": {"nope": 1}}, key=ak),
                    400, "rejected", "nope", "a filter on no column")

        # ---- deletions
        check(api.call("DELETE", "/v1/tenants/acme/documents/d2", key=ak) == (204, None), "DELETE document d2")
        check_error(api.call("GET", "/v1/tenants/acme/documents/d2", key=ak), 404, "not_found", "d2",
                    "d2 is gone")
        st, body = api.call("POST", "/v1/tenants/acme/search", {"query": "shop", "mode": "lexical"}, key=ak)
        check(st == 200 and all(r["id"] != "d2" for r in body["results"]), "d2 is out of the search")
        check_error(api.call("DELETE", "/v1/tenants/acme/documents/d2", key=ak), 404, "not_found", "d2",
                    "DELETE d2 twice")
        check_error(api.call("DELETE", "/v1/tenants/globex", key=gk), 403, "forbidden", "admin",
                    "DELETE a tenant with its own key")
        check(api.call("DELETE", "/v1/tenants/globex", key=admin) == (204, None), "DELETE /v1/tenants/globex")
        check(not any(f.startswith("globex") for f in os.listdir(os.path.join(data, "tenants"))),
              "globex's files are gone")
        check_error(api.call("POST", "/v1/tenants/globex/search", {"query": "fever"}, key=gk), 401,
                    "unauthorized", "unknown", "globex's key after its deletion")
        check_error(api.call("DELETE", "/v1/tenants/globex", key=admin), 404, "not_found", "globex",
                    "DELETE globex twice")
        rc, _, err = cli("tenant", "delete", "acme", "--data-dir", data)
        check(rc == 1 and "DELETE /v1/tenants/acme" in err, "tenant delete refused while serving")
        # the worker still serves a tenant created again under the same id
        st, body = api.call("POST", "/v1/tenants", {"tenant": "globex"}, key=admin)
        gk = body.get("key", "")
        api.call("PUT", "/v1/tenants/globex/documents/g2", {"text": "Second life"}, key=gk)
        check(wait_done(api, "globex", "g2", gk) is not None, "a tenant created again is embedded")
    finally:
        rc, err = stop(proc, 30)
    check(rc == 0, "SIGTERM: exit 0 (got %s)" % rc)
    if rc != 0:
        print(err)
    backups(data)
    notify(data)
    fairness(data, ak)
    rc, _, _ = cli("tenant", "delete", "acme", "--data-dir", data)
    check(rc == 0 and not os.path.exists(os.path.join(data, "tenants", "acme.db")), "tenant delete acme")
    openapi_coverage({"%s %s" % op for op in SPEC.operations()} - API_TEST_ROUTES - SYNC_TEST_ROUTES)
    finish(tmp)


if __name__ == "__main__":
    main()
