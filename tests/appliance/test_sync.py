#!/usr/bin/python3
"""vecguardd sync to a file:// target (docs/sync.md): push snapshots while
the daemon serves, restore on another data directory (every row and every
search equal to the source at the synced point), and every tamper case:
a flipped byte, a cut object, an older manifest put back, another tenant's
object under this tenant's name, the wrong sync key."""
import json
import os
import shutil
import sqlite3
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vecguardd as base  # noqa: E402

check, cli, start = base.check, base.cli, base.start


def rows(path):
    """Every document row and queue item of a tenant file, comparable."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        q = con.execute("SELECT id, content_type, content_id, status, content_hash FROM vg_queue ORDER BY id").fetchall()
        log = con.execute("SELECT content_id, findings, compliance FROM vg_pii_log ORDER BY id").fetchall()
        return q, log
    finally:
        con.close()


def searches(api, tenant, key, queries):
    out = []
    for q in queries:
        st, body = api.call("POST", "/v1/tenants/%s/search" % tenant, {"query": q, "k": 5}, key=key)
        out.append([(r["id"], round(r["score"], 6), r["snippet"]) for r in body["results"]] if st == 200 else st)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="vgd-sync-")
    src, dst, bucket = (os.path.join(tmp, x) for x in ("src", "dst", "bucket"))
    keyfile = os.path.join(tmp, "sync.key")
    conf = os.path.join(tmp, "sync.ini")
    rc, out, err = cli("sync-key", "create", keyfile)
    check(rc == 0 and os.path.getsize(keyfile) == 32 and (os.stat(keyfile).st_mode & 0o777) == 0o600,
          "sync-key create: 32 bytes, mode 0600")
    rc, out, err = cli("sync-key", "create", keyfile)
    check(rc == 1 and "never overwritten" in err, "sync-key create refuses to overwrite a key")
    with open(conf, "w") as f:
        f.write("[sync]\ntarget = file://%s\nkey_file = %s\n" % (bucket, keyfile))
    keys = {t: json.loads(cli("tenant", "create", t, "--data-dir", src)[1])["key"] for t in ("acme", "globex")}
    proc, api = start(src)
    queries = ["pump seal", "invoice chairs", "fever"]
    try:
        # enough dense vectors (many distinct words) for a snapshot of several
        # sealed chunks
        import random
        rnd = random.Random(7)
        vocab = ["w%x" % rnd.getrandbits(40) for _ in range(5000)]
        texts = {"d%d" % i: "pump seal %d, invoice for chairs, write to ana%d@example.com %s"
                 % (i, i, " ".join(rnd.choice(vocab) for _ in range(60))) for i in range(150)}
        for d, t in texts.items():
            api.call("PUT", "/v1/tenants/acme/documents/" + d, {"text": t, "metadata": {"n": d}}, key=keys["acme"])
        api.call("PUT", "/v1/tenants/globex/documents/g1", {"text": "globex fever notes"}, key=keys["globex"])
        for d in texts:
            base.wait_done(api, "acme", d, keys["acme"])
        base.wait_done(api, "globex", "g1", keys["globex"])
        # pushed while the daemon serves
        rc, out, err = cli("sync", "--config", conf, "--data-dir", src, "--all")
        summary = json.loads(out) if rc == 0 else {}
        check(rc == 0 and summary.get("tenants") == 2 and summary.get("objects") == 6, "sync --all while serving: %s"
              % (out.strip() or err.strip()))
        want_rows = rows(os.path.join(src, "tenants", "acme.db"))
        want_search = searches(api, "acme", keys["acme"], queries)
        # a second push: the manifest goes to number 2
        api.call("PUT", "/v1/tenants/acme/documents/late", {"text": "a late pump note"}, key=keys["acme"])
        base.wait_done(api, "acme", "late", keys["acme"])
        manifest_1 = open(os.path.join(bucket, "acme", "manifest"), "rb").read()
        rc, out, err = cli("sync", "--config", conf, "--data-dir", src, "--tenant", "acme")
        check(rc == 0, "a second sync of acme")
        want_rows = rows(os.path.join(src, "tenants", "acme.db"))
        want_search = searches(api, "acme", keys["acme"], queries)
    finally:
        check(base.stop(proc)[0] == 0, "SIGTERM: exit 0")

    # nothing in the bucket gives content or a document id away
    names = sorted(os.path.relpath(os.path.join(d, f), bucket) for d, _, fs in os.walk(bucket) for f in fs)
    blob = b"".join(open(os.path.join(bucket, n), "rb").read() for n in names)
    check(all(n.split("/")[0] in ("acme", "globex") and (n.endswith("/manifest") or len(n.split("/")[1]) == 32)
              for n in names), "object names: the tenant, then 32 hex digits or manifest (%d objects)" % len(names))
    # needles long enough that random ciphertext does not hold them by chance
    needles = [b"pump seal 17", b"invoice for chairs", b"@example.com", b"SQLite format 3\x00", b"acme:d17",
               vocab[17].encode()]
    check(not any(n in blob for n in needles),
          "no object holds a text, an e-mail, a document key or an SQLite header in the clear")

    # restore on another box (data directory)
    rc, out, err = cli("restore", "--config", conf, "--data-dir", dst, "--tenant", "acme")
    got = json.loads(out) if rc == 0 else {}
    check(rc == 0 and got.get("seq") == 2 and got.get("key", "").startswith("vgk_"),
          "restore on a new data directory: manifest 2, a new key (%s)" % (out.strip() or err.strip()))
    check(rows(os.path.join(dst, "tenants", "acme.db")) == want_rows, "every queue item and audit row as at the sync")
    rc, out, err = cli("check", "--data-dir", dst)
    check(rc == 0 and json.loads(out)["ok"], "the restored tenant passes integrity_check and vg_hnsw_check")
    proc, api = start(dst)
    try:
        check(searches(api, "acme", got.get("key"), queries) == want_search, "every search as at the sync")
        st, body = api.call("GET", "/v1/tenants/acme/documents/d3", key=got.get("key"))
        check(st == 200 and body["chunks"][0].startswith("pump seal 3, invoice for chairs, write to <EMAIL_ADDRESS>")
              and not any("@example.com" in c for c in body["chunks"]), "a document reads back, redacted as it was")
    finally:
        check(base.stop(proc)[0] == 0, "SIGTERM: exit 0")
    rc, out, err = cli("restore", "--config", conf, "--data-dir", dst, "--tenant", "acme")
    check(rc == 0 and "key" not in json.loads(out), "restore again where the tenant is: no new key")

    # tamper cases, each on a copy of the bucket
    def tampered(what, change, word, tenant="acme"):
        saved = os.path.join(tmp, "saved")
        shutil.copytree(bucket, saved)
        try:
            change()
            d = os.path.join(tmp, "t-" + what.replace(" ", "-"))
            rc, out, err = cli("restore", "--config", conf, "--data-dir", d, "--tenant", tenant)
            check(rc == 1 and word in err and not os.path.exists(os.path.join(d, "tenants", tenant + ".db")),
                  "%s: refused, naming %r, no tenant file (%s)" % (what, word, err.strip()))
        finally:
            shutil.rmtree(bucket)
            shutil.move(saved, bucket)
    acme = os.path.join(bucket, "acme")
    # the latest snapshot: the newest object bigger than a manifest
    snap = max((os.path.join(acme, f) for f in os.listdir(acme)
                if f != "manifest" and os.path.getsize(os.path.join(acme, f)) > 4096), key=os.path.getmtime)
    snap_name = "acme/" + os.path.basename(snap)
    check(os.path.getsize(snap) > 3 * 65536, "the snapshot object spans several 64 KiB chunks (%d bytes)"
          % os.path.getsize(snap))

    def flip(path, at):
        b = bytearray(open(path, "rb").read())
        b[at if at >= 0 else len(b) + at] ^= 0x01
        open(path, "wb").write(bytes(b))

    def cut(path, n):
        b = open(path, "rb").read()
        open(path, "wb").write(b[:len(b) - n])
    tampered("a flipped byte in the snapshot", lambda: flip(snap, len(open(snap, "rb").read()) // 2), snap_name)
    tampered("a flipped byte in the manifest", lambda: flip(os.path.join(acme, "manifest"), -3), "acme/manifest")
    tampered("a cut snapshot", lambda: cut(snap, 100), snap_name)
    def swap_chunks(path):
        """The first two sealed chunks of the object, swapped."""
        b = open(path, "rb").read()
        n1 = int.from_bytes(b[24:28], "little")
        c1 = b[24:28 + n1]
        n2 = int.from_bytes(b[28 + n1:32 + n1], "little")
        c2 = b[28 + n1:32 + n1 + n2]
        open(path, "wb").write(b[:24] + c2 + c1 + b[32 + n1 + n2:])
    tampered("two chunks of the snapshot swapped", lambda: swap_chunks(snap), snap_name)
    tampered("a byte added after the snapshot", lambda: open(snap, "ab").write(b"x"), "follow")
    tampered("the snapshot cut after its header", lambda: open(snap, "r+b").truncate(24), "no final chunk")
    tampered("an older manifest put back",
             lambda: open(os.path.join(acme, "manifest"), "wb").write(manifest_1), "put back")
    globex = os.path.join(bucket, "globex")
    gsnap = max((os.path.join(globex, f) for f in os.listdir(globex) if f != "manifest"), key=os.path.getsize)
    # the same length as acme's, so only the authentication can tell
    gdata = open(gsnap, "rb").read()
    gdata = (gdata * (os.path.getsize(snap) // len(gdata) + 1))[:os.path.getsize(snap)]
    gcopy = os.path.join(tmp, "globex-snapshot")
    open(gcopy, "wb").write(gdata)
    tampered("globex's snapshot under acme's name", lambda: shutil.copy(gsnap, snap), snap_name)
    tampered("globex's snapshot, at acme's length, under acme's name", lambda: shutil.copy(gcopy, snap), snap_name)
    tampered("globex's manifest as acme's",
             lambda: shutil.copy(os.path.join(globex, "manifest"), os.path.join(acme, "manifest")), "acme/manifest")
    other = os.path.join(tmp, "other.key")
    cli("sync-key", "create", other)
    conf2 = os.path.join(tmp, "other.ini")
    with open(conf2, "w") as f:
        f.write("[sync]\ntarget = file://%s\nkey_file = %s\n" % (bucket, other))
    rc, out, err = cli("restore", "--config", conf2, "--data-dir", os.path.join(tmp, "t-key"), "--tenant", "acme")
    check(rc == 1 and "acme/manifest" in err, "another sync key opens nothing (%s)" % err.strip())
    rc, out, err = cli("sync", "--config", conf2, "--data-dir", src, "--tenant", "acme")
    check(rc == 1 and "acme/manifest" in err, "nor pushes over the copies of another key (%s)" % err.strip())
    rc, out, err = cli("restore", "--config", conf, "--data-dir", src, "--tenant", "nobody")
    check(rc == 1 and "no manifest" in err, "restore of a tenant never synced: %s" % err.strip())
    with open(conf2, "w") as f:
        f.write("[sync]\ntarget = s3://bucket/prefix\nkey_file = %s\n" % keyfile)
    rc, out, err = cli("sync", "--config", conf2, "--data-dir", src, "--all")
    check(rc == 1 and "file:///" in err, "an s3:// target says it is not built yet: %s" % err.strip())

    # a target on another file system than the data directory (a USB stick):
    # objects are written beside their names there, not moved across
    shm = tempfile.mkdtemp(prefix="vgd-sync-", dir="/dev/shm")
    try:
        check(os.stat(shm).st_dev != os.stat(src).st_dev, "/dev/shm is another file system than the data directory")
        with open(conf2, "w") as f:
            f.write("[sync]\ntarget = file://%s/bucket\nkey_file = %s\n" % (shm, keyfile))
        rc, out, err = cli("sync", "--config", conf2, "--data-dir", src, "--tenant", "globex")
        check(rc == 0 and json.loads(out)["objects"] == 3, "sync to another file system: %s" % (out.strip() or err.strip()))
        rc, out, err = cli("restore", "--config", conf2, "--data-dir", os.path.join(tmp, "from-shm"), "--tenant", "globex")
        check(rc == 0 and rows(os.path.join(tmp, "from-shm", "tenants", "globex.db"))
              == rows(os.path.join(src, "tenants", "globex.db")), "and back, every row as in the source")
        check(not any(f.startswith(".sync-") for f in os.listdir(src)), "no work directory is left in the data directory")
    finally:
        shutil.rmtree(shm)
    if base.failures:
        print("%d failed" % len(base.failures))
        sys.exit(1)
    shutil.rmtree(tmp)
    print("all passed")


if __name__ == "__main__":
    main()
