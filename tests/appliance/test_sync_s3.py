#!/usr/bin/python3
"""vecguardd sync to an S3 target (docs/sync.md), against s3rver behind
tests/appliance/s3test.py's SigV4-verifying, fault-injecting proxy: a push
while the daemon serves and a restore equal to the source; an object over
8 MiB sent in parts; the lease between two boxes (refused, --take-over);
an erasure scan of every object's plaintext (syncobj.py) after a document
is deleted; the store down, answering 503, refusing connections, slow; a
sync killed with SIGKILL mid-upload; a disk full during a restore; a wrong
secret. Prints SKIPPED when s3rver cannot run here (no node/npm)."""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3test  # noqa: E402
import syncobj  # noqa: E402
import test_sync  # noqa: E402
import test_vecguardd as base  # noqa: E402

check, start = base.check, base.start


rows, searches, batch, drained = test_sync.rows, test_sync.searches, test_sync.batch, test_sync.drained
QUERIES = ["pump seal", "invoice chairs", "fever", "river"]


class Env:
    """The store, the sync key, a config per prefix and the environment
    naming the credentials."""

    def __init__(self, tmp, s3):
        self.tmp, self.s3 = tmp, s3
        self.keyfile = os.path.join(tmp, "sync.key")
        rc, _, err = base.cli("sync-key", "create", self.keyfile)
        if rc != 0:
            sys.exit("sync-key create: " + err)
        self.sync_key = open(self.keyfile, "rb").read()
        self.env = dict(os.environ, VG_TEST_AK=s3.access_key, VG_TEST_SK=s3.secret_key)

    def conf(self, prefix, retention=None, extra=""):
        path = os.path.join(self.tmp, "sync-%s.ini" % prefix.replace("/", "-"))
        with open(path, "w") as f:
            f.write("[sync]\ntarget = s3://%s/%s\nendpoint = %s\nregion = us-east-1\naccess_key_env = VG_TEST_AK\n"
                    "secret_key_env = VG_TEST_SK\nkey_file = %s\n%s%s"
                    % (self.s3.bucket, prefix, self.s3.endpoint, self.keyfile,
                       "" if retention is None else "retention = %d\n" % retention, extra))
        return path

    def run(self, *args, env=None):
        p = subprocess.run([base.DAEMON, *args], capture_output=True, text=True, timeout=120,
                           env=env or self.env)
        return p.returncode, p.stdout, p.stderr

    def sync(self, conf, data, *args, env=None):
        rc, out, err = self.run("sync", "--config", conf, "--data-dir", data, *args, env=env)
        return rc, (json.loads(out) if rc == 0 else {}), (out.strip() or err.strip())

    def restore(self, conf, data, tenant):
        rc, out, err = self.run("restore", "--config", conf, "--data-dir", data, "--tenant", tenant)
        return rc, (json.loads(out) if rc == 0 else {}), (out.strip() or err.strip())

    def store(self, prefix):
        return syncobj.s3_store(self.s3, prefix)

    def keys(self, tenant):
        return syncobj.Keys(self.sync_key, tenant)


def new_tenant(data, tenant):
    rc, out, err = base.cli("tenant", "create", tenant, "--data-dir", data)
    if rc != 0:
        sys.exit("tenant create %s: %s" % (tenant, err))
    return json.loads(out)["key"]


def fill(api, tenant, key, n, seed, prefix="d"):
    rnd = random.Random(seed)
    vocab = ["w%x" % rnd.getrandbits(40) for _ in range(2000)]
    docs = {"%s%d" % (prefix, i): "pump seal %d, invoice for chairs, fever by the river, ana%d@example.com %s"
            % (i, i, " ".join(rnd.choice(vocab) for _ in range(40))) for i in range(n)}
    check(batch(api, tenant, key, docs) and drained(api, tenant, key), "%d documents in %s" % (n, tenant))


def same_as_source(e, conf, src, tenant, key_src, api_src, what):
    """Restore tenant on a new data directory: rows and searches equal to
    src's now (the daemon on src must hold still)."""
    want_rows = rows(os.path.join(src, "tenants", tenant + ".db"))
    want_search = searches(api_src, tenant, key_src, QUERIES)
    dst = tempfile.mkdtemp(prefix="dst-", dir=e.tmp)
    rc, got, msg = e.restore(conf, dst, tenant)
    check(rc == 0 and rows(os.path.join(dst, "tenants", tenant + ".db")) == want_rows,
          "%s: the restore's queue and audit rows equal the source's (%s)" % (what, msg))
    if rc != 0:
        return
    proc, api = start(dst)
    try:
        check(searches(api, tenant, got.get("key"), QUERIES) == want_search, "%s: every search as in the source" % what)
    finally:
        base.stop(proc)


def push_and_restore(e, src, keys, api):
    """sync --all while the daemon answers searches; restore equal to it."""
    conf = e.conf("main")
    p = subprocess.Popen([base.DAEMON, "sync", "--config", conf, "--data-dir", src, "--all"], env=e.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answered = 0
    while p.poll() is None:
        answered += searches(api, "acme", keys["acme"], QUERIES[:1])[0] != 500
    out, err = p.communicate()
    summary = json.loads(out) if p.returncode == 0 else {}
    check(p.returncode == 0 and summary.get("tenants") == 2 and summary.get("snapshots") == 2
          and summary.get("objects") == 8, "sync --all to S3 while serving (%d searches answered meanwhile): %s"
          % (answered, out.strip() or err.strip()))
    names = e.s3.list_keys("main/")
    check(sorted(n.split("/")[-1] for n in names if n.startswith("main/acme/")).count("manifest") == 1
          and all(n.split("/")[2] in ("manifest", "lease") or len(n.split("/")[2]) == 32 for n in names),
          "objects under main/<tenant>/: manifest, lease, 32 hex names (%d)" % len(names))
    store = e.store("main")
    m = syncobj.read_manifest(store, e.keys("acme"))
    check(len(syncobj.rebuild(store, e.keys("acme"), m)) == m["pages"] * m["page_size"],
          "syncobj rebuilds acme from the S3 objects with the manifest's file_hash")
    same_as_source(e, conf, src, "acme", keys["acme"], api, "S3 push")
    rc, _, msg = e.restore(conf, src, "acme")
    check(rc == 1 and "stop it" in msg, "restore onto the data directory a server runs on is refused: %s" % msg)
    # --from: a config whose own target is elsewhere
    other = os.path.join(e.tmp, "from.ini")
    with open(other, "w") as f:
        f.write(open(conf).read().replace("s3://%s/main" % e.s3.bucket, "file://%s/nowhere" % e.tmp))
    dst = os.path.join(e.tmp, "from-dst")
    rc, got, msg = e.run("restore", "--config", other, "--data-dir", dst, "--tenant", "globex",
                         "--from", "s3://%s/main" % e.s3.bucket)
    check(rc == 0 and rows(os.path.join(dst, "tenants", "globex.db"))
          == rows(os.path.join(src, "tenants", "globex.db")),
          "restore --from s3://bucket/main with another target in the config: %s" % (got.strip() or msg.strip()))
    check(e.s3.proxy.sig_failures() == [],
          "no request failed the proxy's SigV4 check: %s" % e.s3.proxy.sig_failures()[:2])
    return conf


def wrong_secret(e, conf, src):
    e.s3.proxy.reset_counters()
    rc, _, msg = e.sync(conf, src, "--all", env=dict(e.env, VG_TEST_SK=e.s3.secret_key[::-1]))
    check(rc == 1 and "403" in msg and "SignatureDoesNotMatch" in msg,
          "a wrong secret: exit 1 naming 403 SignatureDoesNotMatch (%s)" % msg[:200])
    check(len(e.s3.proxy.sig_failures()) >= 1, "the proxy recorded the refused signatures")
    e.s3.proxy.reset_counters()
    rc, _, msg = e.sync(conf, src, "--all", env=dict(e.env, VG_TEST_AK="NOSUCHKEY"))
    check(rc == 1 and "403" in msg and "InvalidAccessKeyId" in msg, "an unknown access key: 403 (%s)" % msg[:200])
    e.s3.proxy.reset_counters()


def multipart(e, src, api):
    """A tenant whose file is over 8 MiB compressed goes up in parts."""
    t0 = time.time()
    key = new_tenant(src, "big")
    rnd = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    vocab = ["".join(rnd.choice(alphabet) for _ in range(10)) for _ in range(50000)]
    n = 0
    for b in range(4):
        docs = {"big%d" % (n + i): " ".join(rnd.choice(vocab) for _ in range(1500)) for i in range(100)}
        n += len(docs)
        if not batch(api, "big", key, docs):
            check(False, "batch %d of big refused" % b)
    check(drained(api, "big", key, 50), "%d documents of random words in big (%.1f s)" % (n, time.time() - t0))
    conf = e.conf("big")
    e.s3.proxy.reset_counters()
    rc, got, msg = e.sync(conf, src, "--tenant", "big")
    log = e.s3.proxy.log()
    starts = [x for x in log if x[0] == "POST" and x[2] in ("uploads", "uploads=")]
    parts = [x for x in log if x[0] == "PUT" and "partNumber=" in x[2]]
    completes = [x for x in log if x[0] == "POST" and x[2].startswith("uploadId=")]
    check(rc == 0 and got.get("bytes", 0) > 8 * 1024 * 1024 and len(starts) == 1 and len(parts) >= 2
          and len(completes) == 1 and all(x[3] == 200 for x in starts + parts + completes),
          "big (%d bytes sent) goes up in a multipart upload: %d POST ?uploads, %d parts, %d completions (%s)"
          % (got.get("bytes", 0), len(starts), len(parts), len(completes), msg))
    check(e.s3.proxy.sig_failures() == [], "every part's signature verifies")
    store = e.store("big")
    m = syncobj.read_manifest(store, e.keys("big"))
    data = syncobj.rebuild(store, e.keys("big"), m)
    check(m["chain"][0]["sealed_bytes"] > 8 * 1024 * 1024 and len(data) == m["pages"] * m["page_size"],
          "the multipart object (%d bytes) opens with syncobj, the file_hash matches" % m["chain"][0]["sealed_bytes"])
    print("info multipart: %.1f s" % (time.time() - t0))
    return conf


def bandwidth_cap(e, src):
    """max_bytes_per_second holds each transfer to that rate: big's push
    (over 8 MiB) to a fresh prefix at 4 MB/s takes at least its size over
    the cap, and far longer than the same push without the cap."""
    free_conf = e.conf("free")
    t0 = time.time()
    rc, got, msg = e.sync(free_conf, src, "--tenant", "big")
    free_s = time.time() - t0
    cap = 4000000
    capped_conf = e.conf("capped", extra="max_bytes_per_second = %d\n" % cap)
    t0 = time.time()
    rc2, got2, msg2 = e.sync(capped_conf, src, "--tenant", "big")
    capped_s = time.time() - t0
    least = got2.get("bytes", 0) / cap
    check(rc == 0 and rc2 == 0 and capped_s >= 0.9 * least and capped_s > free_s,
          "max_bytes_per_second %d: %d bytes in %.2f s (at least %.2f s by the cap; %.2f s without it)"
          % (cap, got2.get("bytes", 0), capped_s, least, free_s))


def disk_full(e, conf):
    """A restore of big onto a 2 MiB tmpfs: exit 1, a clear error, no file."""
    mnt = os.path.join(e.tmp, "small-disk")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        print("SKIPPED disk full: mount tmpfs: %s" % r.stderr.strip())
        return
    try:
        rc, _, msg = e.restore(conf, mnt, "big")
        check(rc == 1 and ("space" in msg.lower() or "full" in msg.lower()),
              "a restore onto a full disk: exit 1 saying so (%s)" % msg)
        left = [os.path.relpath(os.path.join(d, f), mnt) for d, _, fs in os.walk(mnt) for f in fs]
        check(not os.path.exists(os.path.join(mnt, "tenants", "big.db"))
              and not any(x.startswith(".sync-") or x.startswith("tenants/big") for x in left),
              "no tenants/big.db nor work files left (%s)" % left)
    finally:
        subprocess.run(["umount", mnt])


def lease(e, src, api):
    """Two boxes, one tenant id, one target."""
    conf = e.conf("lease")
    key1 = new_tenant(src, "shared")
    api.call("PUT", "/v1/tenants/shared/documents/one", {"text": "box one pump note"}, key=key1)
    base.wait_done(api, "shared", "one", key1)
    rc, _, msg = e.sync(conf, src, "--tenant", "shared")
    check(rc == 0, "box 1 pushes shared: %s" % msg)
    src2 = os.path.join(e.tmp, "box2")
    key2 = new_tenant(src2, "shared")
    proc2, api2 = start(src2)
    try:
        api2.call("PUT", "/v1/tenants/shared/documents/two", {"text": "box two seal note"}, key=key2)
        base.wait_done(api2, "shared", "two", key2)
    finally:
        base.stop(proc2)
    rc, _, msg = e.sync(conf, src2, "--tenant", "shared")
    check(rc == 1 and "pushed by another box" in msg, "box 2's push of shared is refused: %s" % msg)
    st = e.store("lease")
    box1 = open(os.path.join(src, "sync.box"), "rb").read().hex()
    check(syncobj.read_lease(st, e.keys("shared"))["box"] == box1
          and syncobj.read_manifest(st, e.keys("shared"))["seq"] == 1,
          "the lease and manifest are box 1's still")
    rc, got, msg = e.sync(conf, src2, "--tenant", "shared", "--take-over")
    check(rc == 0, "box 2 --take-over: %s" % msg)
    st = e.store("lease")
    box2 = open(os.path.join(src2, "sync.box"), "rb").read().hex()
    m = syncobj.read_manifest(st, e.keys("shared"))
    check(syncobj.read_lease(st, e.keys("shared"))["box"] == box2 and m["seq"] == 2
          and m["chain"][0]["kind"] == "snapshot",
          "the lease is box 2's, manifest 2 starts from box 2's snapshot (seq %s)" % m["seq"])
    rc, _, msg = e.sync(conf, src, "--tenant", "shared")
    check(rc == 1 and "pushed by another box" in msg, "then box 1 is refused: %s" % msg)
    rc, got, msg = e.sync(conf, src, "--all")
    check(rc == 1 and "pushed by another box" in msg and '"shared"' in msg,
          "box 1's sync --all to that target fails too, naming shared: %s" % msg)
    print("info after that failed --all, the target holds: %s"
          % sorted(set(k.split("/")[1] for k in e.s3.list_keys("lease/"))))
    dst = os.path.join(e.tmp, "lease-dst")
    rc, got, msg = e.restore(conf, dst, "shared")
    check(rc == 0 and got.get("seq") == 2 and rows(os.path.join(dst, "tenants", "shared.db"))
          == rows(os.path.join(src2, "tenants", "shared.db")), "a restore gets box 2's tenant: %s" % msg)


def erasure(e, src, api):
    """retention 0: after a delete and a push (a snapshot, as retention 0
    makes every push that changed something), no object's
    plaintext holds the deleted document; the kept one's is there. Texts
    are encrypted inside the tenant file (docs/storage.md), so the needles
    are what it keeps in plain form while a document lives: its id (the
    queue's content_id) and a metadata value."""
    conf = e.conf("erase", retention=0)
    key = new_tenant(src, "era")
    tag = "%08x" % random.getrandbits(32)
    gone, kept = "gonezqx%sneedle" % tag, "keptzqx%sneedle" % tag
    gone_id, kept_id = "gonedoc" + tag, "keptdoc" + tag
    api.call("PUT", "/v1/tenants/era/documents/" + gone_id,
             {"text": "a secret note %s about the pump" % gone, "metadata": {"note": gone}}, key=key)
    api.call("PUT", "/v1/tenants/era/documents/" + kept_id,
             {"text": "a kept note %s about the seal" % kept, "metadata": {"note": kept}}, key=key)
    fill(api, "era", key, 30, 5, "f")
    base.wait_done(api, "era", gone_id, key)
    base.wait_done(api, "era", kept_id, key)
    rc, _, msg = e.sync(conf, src, "--tenant", "era")
    plains = syncobj.open_all(e.store("erase"), {"era": e.keys("era")})

    def found(needle):
        return sum(p.count(needle.encode()) for p in plains.values())
    check(rc == 0 and found(gone) > 0 and found(gone_id) > 0,
          "era pushed: the scan finds the deleted-to-be document's metadata (%d) and id (%d) (%s)"
          % (found(gone), found(gone_id), msg))
    st, _ = api.call("DELETE", "/v1/tenants/era/documents/" + gone_id, key=key)
    check(st in (200, 204), "DELETE gone: %d" % st)
    rc, got, msg = e.sync(conf, src, "--tenant", "era")
    check(rc == 0 and got.get("snapshots") == 1 and got.get("deleted", 0) >= 2,
          "retention 0: the push after the delete is a snapshot, the one before deleted at once: %s" % msg)
    plains = syncobj.open_all(e.store("erase"), {"era": e.keys("era")})
    check(found(gone) == 0, "one push after the delete, no object's plaintext holds the deleted document's "
          "metadata (%d objects)" % len(plains))
    rc, got, msg = e.sync(conf, src, "--tenant", "era", "--compact")
    check(rc == 0 and got.get("snapshots") == 1 and got.get("deleted", 0) >= 2,
          "--compact with retention 0: a snapshot again, the previous deleted at once: %s" % msg)
    store = e.store("erase")
    plains = syncobj.open_all(store, {"era": e.keys("era")})
    m = syncobj.read_manifest(store, e.keys("era"))
    needed = {"era/manifest", "era/lease", e.keys("era").name("manifest", m["seq"])} | {c["object"] for c in m["chain"]}
    check(set(plains) == needed, "only the objects the manifest needs are left (%d): %s"
          % (len(plains), sorted(set(plains) - needed)))
    check(found(gone) == 0, "no object's plaintext holds the deleted document's metadata (%d objects, %d bytes "
          "scanned)" % (len(plains), sum(len(p) for p in plains.values())))
    # the id stays where the audit log keeps it, by design (docs/storage.md:
    # vg_pii_log holds content_id, "never a text"), and nowhere else
    path = os.path.join(e.tmp, "era-rebuilt.db")
    with open(path, "wb") as f:
        f.write(syncobj.rebuild(store, e.keys("era"), m))
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        in_log = con.execute("SELECT count(*) FROM vg_pii_log WHERE content_id = ?", (gone_id,)).fetchone()[0]
        in_queue = con.execute("SELECT count(*) FROM vg_queue WHERE content_id = ?", (gone_id,)).fetchone()[0]
    finally:
        con.close()
    check(in_queue == 0 and found(gone_id) == in_log,
          "the deleted document's id is in no object but as the audit log's content_id (%d, %d audit rows)"
          % (found(gone_id), in_log))
    check(found(kept) > 0 and found(kept_id) > 0, "the kept document's metadata and id are there (the scan can see)")


def faults(e, conf, src, keys, api):
    """The store down, 503, refusing connections: sync exits 1 naming the
    request while the daemon answers; then the next sync succeeds."""
    n = [0]

    def change():
        n[0] += 1
        d = "f%d" % n[0]
        api.call("PUT", "/v1/tenants/acme/documents/" + d, {"text": "fault note %d about the river" % n[0]},
                 key=keys["acme"])
        base.wait_done(api, "acme", d, keys["acme"])

    for mode, kw, what in (("down", {}, "the store closes every connection"),
                           ("status", {"status": 503}, "the store answers 503 to everything"),
                           ("stop", {}, "the store refuses connections")):
        change()
        e.s3.proxy.set_fault(mode, **kw)
        t0 = time.time()
        p = subprocess.Popen([base.DAEMON, "sync", "--config", conf, "--data-dir", src, "--all"], env=e.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        answered = failed = 0
        while p.poll() is None:
            r = searches(api, "acme", keys["acme"], QUERIES[:1])[0]
            answered += isinstance(r, list)
            failed += not isinstance(r, list)
            time.sleep(0.05)
        out, err = p.communicate()
        secs = time.time() - t0
        check(p.returncode == 1 and err.startswith("vecguardd: ") and "http://127.0.0.1" in err
              and any(w in err for w in ("GET ", "PUT ", "POST ", "DELETE ", "HEAD ")),
              "%s: sync exits 1 in %.1f s naming the request (%s)" % (what, secs, err.strip()[:240]))
        check(answered > 0 and failed == 0, "%s: the daemon answered %d searches meanwhile" % (what, answered))
        e.s3.proxy.set_fault(None)
        rc, got, msg = e.sync(conf, src, "--all")
        check(rc == 0, "%s, then cleared: the next sync succeeds (%s)" % (what, msg))
    same_as_source(e, conf, src, "acme", keys["acme"], api, "after the faults")

    change()
    e.s3.proxy.reset_counters()
    e.s3.proxy.set_fault("status", status=503, count=2)
    rc, got, msg = e.sync(conf, src, "--all")
    log = e.s3.proxy.log()
    bad = [x for x in log if x[3] == 503]
    retried = all(any(y[:3] == x[:3] and y[3] == 200 for y in log[log.index(x) + 1:]) for x in bad)
    check(rc == 0 and len(bad) == 2 and retried,
          "503 twice: sync succeeds, each 503'd request retried to a 200 (%s; %s)" % (msg, bad))

    change()
    e.s3.proxy.set_fault("delay", seconds=1.0, count=3)
    t0 = time.time()
    rc, got, msg = e.sync(conf, src, "--all")
    check(rc == 0 and time.time() - t0 >= 2.5, "1 s delays on 3 requests: sync succeeds in %.1f s (%s)"
          % (time.time() - t0, msg))
    same_as_source(e, conf, src, "acme", keys["acme"], api, "after the retries and delays")


def killed(e, conf, src, keys, api):
    """sync killed with SIGKILL mid-upload; the next one succeeds."""
    api.call("PUT", "/v1/tenants/acme/documents/k1", {"text": "a note before the kill about the pump"},
             key=keys["acme"])
    base.wait_done(api, "acme", "k1", keys["acme"])
    before = syncobj.read_manifest(e.store("main"), e.keys("acme"))
    e.s3.proxy.reset_counters()
    e.s3.proxy.set_fault("delay", seconds=1.0)
    p = subprocess.Popen([base.DAEMON, "sync", "--config", conf, "--data-dir", src, "--tenant", "acme"], env=e.env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    # the lease PUT first, then the segment's: kill while the latter waits
    while time.time() < deadline and e.s3.proxy.requests().get("PUT", 0) < 2:
        time.sleep(0.01)
    puts = e.s3.proxy.requests().get("PUT", 0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    e.s3.proxy.set_fault(None)
    check(puts >= 2, "SIGKILL while the sync's PUT %d waits on the store" % puts)
    store = e.store("main")
    m = syncobj.read_manifest(store, e.keys("acme"))
    check(m["seq"] in (before["seq"], before["seq"] + 1) and len(syncobj.rebuild(store, e.keys("acme"), m)) > 0,
          "the target's latest manifest still rebuilds to its file_hash (seq %d)" % m["seq"])
    api.call("PUT", "/v1/tenants/acme/documents/k2", {"text": "a note after the kill about the seal"}, key=keys["acme"])
    base.wait_done(api, "acme", "k2", keys["acme"])
    rc, got, msg = e.sync(conf, src, "--tenant", "acme")
    check(rc == 0, "the next sync succeeds: %s" % msg)
    left = [f for f in os.listdir(src) if f.startswith(".sync-")]
    check(left == [], "no work directory of the killed sync is left in the data directory after the next sync "
          "(it holds a copy of the tenant, deleted rows included): %s" % left)
    same_as_source(e, conf, src, "acme", keys["acme"], api, "after a killed sync")


def main():
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="vgd-sync-s3-")
    s3 = s3test.S3Server(os.path.join(tmp, "s3"))
    try:
        os.makedirs(s3.tmpdir)
        s3.start()
    except s3test.Skip as err:
        print("SKIPPED: %s" % err)
        shutil.rmtree(tmp)
        sys.exit(0)
    proc = None
    try:
        e = Env(tmp, s3)
        src = os.path.join(tmp, "src")
        keys = {t: new_tenant(src, t) for t in ("acme", "globex")}
        serve_conf = os.path.join(tmp, "serve.ini")
        with open(serve_conf, "w") as f:
            f.write("[server]\nmax_body_bytes = 16777216\n")
        proc, api = start(src, "--config", serve_conf)
        fill(api, "acme", keys["acme"], 120, 7)
        api.call("PUT", "/v1/tenants/globex/documents/g1", {"text": "globex fever notes"}, key=keys["globex"])
        base.wait_done(api, "globex", "g1", keys["globex"])
        steps = [("push and restore", lambda: push_and_restore(e, src, keys, api))]
        conf = steps[0][1]()
        print("info step push and restore: %.1f s" % (time.time() - t0))
        for name, fn in (("wrong secret", lambda: wrong_secret(e, conf, src)),
                         ("lease", lambda: lease(e, src, api)),
                         ("erasure", lambda: erasure(e, src, api)),
                         ("faults", lambda: faults(e, conf, src, keys, api)),
                         ("kill -9", lambda: killed(e, conf, src, keys, api))):
            t1 = time.time()
            fn()
            print("info step %s: %.1f s" % (name, time.time() - t1))
        t1 = time.time()
        big_conf = multipart(e, src, api)
        bandwidth_cap(e, src)
        check(base.stop(proc)[0] == 0, "SIGTERM: exit 0")
        proc = None
        disk_full(e, big_conf)
        print("info step multipart and disk full: %.1f s" % (time.time() - t1))
    finally:
        if proc:
            base.stop(proc)
        s3.stop()
    print("info %.1f s" % (time.time() - t0))
    base.finish(tmp)


if __name__ == "__main__":
    main()
