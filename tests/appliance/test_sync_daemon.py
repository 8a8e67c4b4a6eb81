#!/usr/bin/python3
"""Sync inside vecguardd (docs/sync.md#in-the-server), against an S3 store
(s3rver behind a proxy that checks SigV4 and injects faults): a box pushes
its changed tenants every interval; two hubs (serve --replica) follow the
bucket, pull a tenant on the admin's first look, answer searches exactly as
the box does, refuse writes, and catch up with later pushes; the store
stopped, failing (503) or slow leaves the box serving and reporting what
waits, and it catches up when the store answers; GET …/sync and the sync
metrics say where things stand."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3test  # noqa: E402
import test_vecguardd as base  # noqa: E402

check, cli = base.check, base.cli


def wait_for(what, cond, timeout=30.0):
    """Poll cond() until it returns a true value (returned) or timeout."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    check(False, "%s within %.0f s" % (what, timeout))
    return None


def searches(api, key, queries):
    out = []
    for q in queries:
        st, body = api.call("POST", "/v1/tenants/acme/search", {"query": q, "k": 5}, key=key)
        out.append([(r["id"], round(r["score"], 6)) for r in body["results"]] if st == 200 else st)
    return out


def status(api, key):
    st, body = api.call("GET", "/v1/tenants/acme/sync", key=key)
    return body if st == 200 else {}


def metrics_text(api):
    with urllib.request.urlopen(api.base + "/metrics", timeout=30) as r:
        return r.read().decode()


def metric(api, name):
    for line in metrics_text(api).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main():
    tmp = tempfile.mkdtemp(prefix="vgd-syncd-")
    s3 = s3test.S3Server(os.path.join(tmp, "s3"))
    try:
        s3.start()
    except s3test.Skip as e:
        print("SKIPPED: %s" % e)
        shutil.rmtree(tmp)
        return
    procs = []
    try:
        run(tmp, s3, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        s3.stop()
    if base.failures:
        print("%d failed" % len(base.failures))
        sys.exit(1)
    shutil.rmtree(tmp)
    print("all passed")


def run(tmp, s3, procs):
    env = dict(os.environ, VG_TEST_AK=s3.access_key, VG_TEST_SK=s3.secret_key)
    keyfile = os.path.join(tmp, "sync.key")
    check(cli("sync-key", "create", keyfile)[0] == 0, "sync-key create")
    conf = os.path.join(tmp, "sync.ini")
    with open(conf, "w") as f:
        f.write("[sync]\ntarget = s3://%s/fleet\nendpoint = %s\nregion = us-east-1\naccess_key_env = VG_TEST_AK\n"
                "secret_key_env = VG_TEST_SK\nkey_file = %s\ninterval = 1\nretention = 3600\n"
                % (s3.bucket, s3.endpoint, keyfile))
    box_dir = os.path.join(tmp, "box")
    key = json.loads(cli("tenant", "create", "acme", "--data-dir", box_dir)[1])["key"]
    box, api = base.start(box_dir, "--config", conf, env=env)
    procs.append(box)
    queries = ["pump seal", "invoice chairs", "fever notes"]
    texts = {"d%d" % i: "pump seal %d, invoice for chairs, call ana%d@example.com, fever notes %d" % (i, i, i)
             for i in range(40)}
    for d, t in texts.items():
        api.call("PUT", "/v1/tenants/acme/documents/" + d, {"text": t}, key=key)
    base.wait_done(api, "acme", "d39", key)
    st = wait_for("the box pushes acme on its own",
                  lambda: (lambda b: b if b.get("seq", 0) >= 1 and not b.get("changed_since_sync") else None)(
                      status(api, key)))
    check(st and st["role"] == "box" and st["last_error"] is None and st["lag_seconds"] == 0
          and st["bytes_sent"] > 0, "GET …/sync on the box: pushed, nothing waits (%s)" % st)
    check((metric(api, "vecguardd_sync_pushes_total") or 0) >= 1, "vecguardd_sync_pushes_total counts the pushes")
    promtool = shutil.which("promtool")
    if promtool:
        text = metrics_text(api)
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        check(p.returncode == 0, "promtool check metrics, with the sync metrics (%s)" % (p.stdout + p.stderr).strip())
    else:
        check(False, "promtool is installed (Debian's prometheus package)")
    check(s3.list_keys("fleet/acme/") and all(k.startswith("fleet/acme/") for k in s3.list_keys("fleet/")),
          "the objects are under the prefix, by tenant")

    # two hubs follow the bucket; a tenant is pulled on the admin's first look
    hubs = []
    for name in ("hub1", "hub2"):
        d = os.path.join(tmp, name)
        proc, hapi = base.start(d, "--config", conf, "--replica", env=env)
        procs.append(proc)
        admin = open(os.path.join(d, "admin.key")).read().strip()
        st, body = hapi.call("GET", "/v1/tenants/acme/sync", key=admin)
        check(st == 200 and body["role"] == "replica" and body["seq"] >= 1,
              "%s: the admin's first look pulls acme (%s %s)" % (name, st, body))
        st, body = hapi.call("POST", "/v1/tenants/acme/keys", {"scopes": ["search", "ingest"]}, key=admin)
        check(st == 201, "%s: the admin makes a key for the pulled tenant" % name)
        hubs.append((name, proc, hapi, admin, body.get("key")))
    want = searches(api, key, queries)
    for name, proc, hapi, admin, hkey in hubs:
        check(searches(hapi, hkey, queries) == want, "%s answers every search as the box does" % name)
        st, body = hapi.call("PUT", "/v1/tenants/acme/documents/x", {"text": "no"}, key=hkey)
        check(st == 403 and body["error"]["code"] == "read_only", "%s refuses a document write: %s" % (name, body))
        st, body = hapi.call("POST", "/v1/tenants/acme/documents:batch", None, key=hkey)
        check(st == 403, "%s refuses a batch" % name)
        st, body = hapi.call("POST", "/v1/tenants", {"tenant": "new"}, key=admin)
        check(st == 403 and body["error"]["code"] == "read_only", "%s refuses a new tenant" % name)
        st, body = hapi.call("DELETE", "/v1/tenants/acme", key=admin)
        check(st == 403, "%s refuses a tenant's deletion" % name)
        st, body = hapi.call("POST", "/v1/tenants/nobody/keys", {"scopes": ["search"]}, key=admin)
        check(st == 404 and "nobody" in body["error"]["message"], "%s: a tenant the bucket lacks is 404" % name)

    # a later write reaches both hubs
    api.call("PUT", "/v1/tenants/acme/documents/late", {"text": "a late zebra crossing"}, key=key)
    base.wait_done(api, "acme", "late", key)
    t0 = time.time()
    for name, proc, hapi, admin, hkey in hubs:
        wait_for("%s serves the late document" % name, lambda: (lambda r: r[0] == 200 and r[1]["results"] and
                                                               r[1]["results"][0]["id"] == "late")(
            hapi.call("POST", "/v1/tenants/acme/search", {"query": "late zebra crossing", "k": 1}, key=hkey)))
    print("a write on the box was served by both hubs %.1f s after it was embedded" % (time.time() - t0))
    for name, proc, hapi, admin, hkey in hubs:
        st = status(hapi, hkey)
        check(st.get("seq") == status(api, key).get("seq") and st.get("lag_seconds", 99) < 30,
              "%s: the manifest served is the box's latest; lag %s s" % (name, st.get("lag_seconds")))

    # the store stopped: the box goes on serving and says what waits
    for mode, kw in (("stop", {}), ("status", {"status": 503}), ("status", {"status": 500}), ("delay", {"seconds": 3})):
        s3.proxy.set_fault(mode, **kw)
        fails = metric(api, "vecguardd_sync_failures_total") or 0
        doc = "off-%s%s" % (mode, kw.get("status", ""))
        t0 = time.time()
        st, _ = api.call("PUT", "/v1/tenants/acme/documents/" + doc, {"text": "written while the store is %s" % mode},
                         key=key)
        base.wait_done(api, "acme", doc, key)
        slowest, answered = 0.0, 0
        for _ in range(10):
            t1 = time.time()
            answered += api.call("POST", "/v1/tenants/acme/search", {"query": "pump seal", "k": 3}, key=key)[0] == 200
            slowest = max(slowest, time.time() - t1)
        check(answered == 10, "store %s: the box answers searches (%d of 10)" % (mode, answered))
        check(st == 202 and slowest < 1.0, "store %s: the box takes writes and answers searches (slowest %.3f s)"
              % (mode, slowest))
        if mode != "delay":
            b = wait_for("store %s: the status reports the failure" % mode,
                         lambda: (lambda b: b if b.get("last_error") else None)(status(api, key)))
            check(b and b["changed_since_sync"] and b["pending_bytes"] > 0 and b["lag_seconds"] >= 0,
                  "store %s: last_error, pending_bytes and changed_since_sync say what waits (%s)"
                  % (mode, {k: b.get(k) for k in ("last_error", "pending_bytes", "lag_seconds")} if b else None))
            check((metric(api, "vecguardd_sync_failures_total") or 0) > fails,
                  "store %s: vecguardd_sync_failures_total grows" % mode)
        if mode == "stop":
            s3.proxy.set_fault("start")
        s3.proxy.set_fault(None)
        b = wait_for("store %s, then back: the box catches up" % mode,
                     lambda: (lambda b: b if not b.get("last_error") and not b.get("changed_since_sync") else None)(
                         status(api, key)), timeout=60)
        check(b is not None and b["pending_bytes"] == 0, "store %s, then back: nothing waits" % mode)
        name, proc, hapi, admin, hkey = hubs[0]
        wait_for("store %s, then back: hub1 serves the document written meanwhile" % mode,
                 lambda: hapi.call("GET", "/v1/tenants/acme/documents/" + doc, key=hkey)[0] == 200)
    check(s3.proxy.sig_failures() == [], "every request was signed right (%s)" % s3.proxy.sig_failures()[:2])

    # kill -9 while a push waits on a stalled store: the next start erases
    # the plain copy it left and pushes what it had not
    s3.proxy.set_fault("delay", seconds=60)
    api.call("PUT", "/v1/tenants/acme/documents/killed", {"text": "written before a kill nine"}, key=key)
    base.wait_done(api, "acme", "killed", key)
    time.sleep(2.5)
    left = [f for f in os.listdir(box_dir) if f.startswith(".sync-")]
    box.kill()
    box.wait()
    check(left, "a push under way keeps its work directory (%s)" % left)
    s3.proxy.set_fault(None)
    box, api = base.start(box_dir, "--config", conf, env=env)
    procs.append(box)
    check(left and not [f for f in left if os.path.exists(os.path.join(box_dir, f))],
          "the restarted server erased the killed push's work directory (%s)" % left)
    wait_for("after kill -9 and a restart, the box pushes what it had not",
             lambda: (lambda b: b if not b.get("changed_since_sync") and not b.get("last_error") else None)(
                 status(api, key)), timeout=60)
    name, proc, hapi, admin, hkey = hubs[0]
    wait_for("after kill -9 and a restart, hub1 serves the document written before the kill",
             lambda: hapi.call("GET", "/v1/tenants/acme/documents/killed", key=hkey)[0] == 200)

    # SIGTERM while a push waits on a stalled store: the server still stops
    s3.proxy.set_fault("delay", seconds=60)
    api.call("PUT", "/v1/tenants/acme/documents/stalled", {"text": "stalled"}, key=key)
    base.wait_done(api, "acme", "stalled", key)
    time.sleep(1.5)
    t0 = time.time()
    rc, log = base.stop(box)
    check(rc == 0 and time.time() - t0 < 10, "SIGTERM during a stalled push: exit 0 in %.1f s" % (time.time() - t0))
    s3.proxy.set_fault(None)
    # the tenant's copies erased at the source (the box deletes them once the
    # tenant is deleted there and the retention is past): each hub erases its
    # own copy at its next refresh
    for k in s3.list_keys("fleet/acme/"):
        s3.delete_object(k)
    for name, proc, hapi, admin, hkey in hubs:
        d = os.path.join(tmp, name)
        wait_for("%s erases acme once the target has no copies of it" % name,
                 lambda: not os.path.exists(os.path.join(d, "tenants", "acme.db"))
                 and not os.path.exists(os.path.join(d, "replica", "acme.db")))
        st, body = hapi.call("GET", "/v1/tenants/acme/documents/d1", key=hkey)
        check(st in (401, 404), "%s: acme's documents are gone (%d)" % (name, st))
    for name, proc, hapi, admin, hkey in hubs:
        rc, log = base.stop(proc)
        check(rc == 0, "%s: SIGTERM, exit 0" % name)
        if base.failures:
            print("slow forwards to s3rver:", s3.proxy.slow)
            print("\n".join(l for l in log.splitlines() if '"event":"request"' not in l)[-3000:])
    base.openapi_coverage(base.SYNC_TEST_ROUTES)


if __name__ == "__main__":
    main()
