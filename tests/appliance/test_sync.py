#!/usr/bin/python3
"""vecguardd sync to a file:// target (docs/sync.md): a snapshot, then
segments of the changed pages, pushed while the daemon serves; the chain
read back by syncobj.py (a second reader of the format) whose rebuilt file
has the manifest's file_hash; restore on another data directory (every row
and every search equal to the source at the synced point); every tamper
case: a flipped byte, a cut object, chunks swapped, segments swapped, cut
or another tenant's, a segment dropped from a (re-sealed) chain, an older
manifest put back, the wrong sync key; the bytes a push of 1,000 upserts
sends."""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import syncobj  # noqa: E402
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


def batch(api, tenant, key, docs):
    """POST documents:batch ({id: text}): every line 202."""
    body = "\n".join(json.dumps({"id": d, "text": t}) for d, t in docs.items()).encode()
    req = urllib.request.Request(api.base + "/v1/tenants/%s/documents:batch" % tenant, data=body, method="POST")
    req.add_header("Content-Type", "application/x-ndjson")
    req.add_header("Authorization", "Bearer " + key)
    with urllib.request.urlopen(req, timeout=60) as r:
        lines = [json.loads(x) for x in r.read().splitlines() if x.strip()]
    return len(lines) == len(docs) and all(x["status"] == 202 for x in lines)


def drained(api, tenant, key, timeout=40):
    """Wait until the tenant's queue has nothing pending or processing."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, body = api.call("GET", "/v1/tenants/%s/report" % tenant, key=key)
        q = body["queue"]["by_status"] if st == 200 else {}
        if st == 200 and q.get("pending", 1) == 0 and q.get("processing", 1) == 0:
            return True
        time.sleep(0.1)
    return False


def sync(conf, data, *args):
    rc, out, err = cli("sync", "--config", conf, "--data-dir", data, *args)
    return rc, (json.loads(out) if rc == 0 else {}), (out.strip() or err.strip())


def bytes_per_upserts(tmp, conf, src):
    """A tenant of ~2,000 small documents gets 1,000 more: what the push of
    them sends against the size of the file (printed; loosely checked)."""
    keys = json.loads(cli("tenant", "create", "bulk", "--data-dir", src)[1])["key"]
    proc, api = start(src)
    try:
        words = ["pump", "seal", "valve", "invoice", "chair", "river", "fever", "order", "ship", "crate"]

        def docs(lo, hi):
            return {"b%d" % i: "note %d: %s %s %s" % (i, words[i % 10], words[(i // 10) % 10], words[(i // 100) % 10])
                    for i in range(lo, hi)}
        ok = batch(api, "bulk", keys, docs(0, 1000)) and batch(api, "bulk", keys, docs(1000, 2000))
        check(ok and drained(api, "bulk", keys), "2,000 small documents in bulk")
        rc, first, msg = sync(conf, src, "--tenant", "bulk")
        check(rc == 0 and first.get("snapshots") == 1, "bulk's first push is a snapshot: %s" % msg)
        ok = batch(api, "bulk", keys, docs(2000, 3000))
        check(ok and drained(api, "bulk", keys), "1,000 more")
        rc, second, msg = sync(conf, src, "--tenant", "bulk")
        size = os.path.getsize(os.path.join(src, "tenants", "bulk.db"))
        snap_bytes = first.get("bytes", 0)
        print("info 1,000 upserts into a tenant of 2,000 documents: the push sent %d bytes (%d pages) in %s "
              "objects; the file is %d bytes (%d pages); the first push sent %d bytes"
              % (second.get("bytes", -1), second.get("pages", -1), second.get("objects"), size, size // 4096,
                 snap_bytes))
        if second.get("bytes", 0) > snap_bytes / 2:
            print("info NOTE: this segment is %.0f%% of the bytes of a whole (compressed) snapshot"
                  % (100.0 * second.get("bytes", 0) / max(snap_bytes, 1)))
        check(rc == 0 and second.get("snapshots") == 0 and 0 < second.get("bytes", 0) < size,
              "the push of 1,000 upserts is a segment, smaller than the file: %s" % msg)
        # small changes, pushed: once the chain's segments outweigh its
        # snapshot (sealed bytes), the next push is a snapshot again, and the
        # old chain stays in the target (retention: a week) as garbage
        store = syncobj.DirStore(os.path.join(tmp, "bucket"))
        kb = syncobj.Keys(open(os.path.join(tmp, "sync.key"), "rb").read(), "bulk")
        ok = True
        for n in range(3):
            before = syncobj.read_manifest(store, kb)
            heavy = sum(c["sealed_bytes"] for c in before["chain"][1:]) > before["chain"][0]["sealed_bytes"]
            api.call("PUT", "/v1/tenants/bulk/documents/more%d" % n, {"text": "one more pump note %d" % n}, key=keys)
            base.wait_done(api, "bulk", "more%d" % n, keys)
            rc, got, msg = sync(conf, src, "--tenant", "bulk")
            m = syncobj.read_manifest(store, kb)
            print("info push after one more document (segments %s the snapshot): %s"
                  % ("outweigh" if heavy else "do not outweigh", msg))
            ok = ok and rc == 0 and (got.get("snapshots") == 1) == heavy
            if heavy:
                old = {c["object"] for c in before["chain"]}
                ok = ok and [c["kind"] for c in m["chain"]] == ["snapshot"] and got.get("deleted") == 0 \
                    and old <= {g["object"] for g in m["garbage"]} and all(os.path.exists(os.path.join(
                        tmp, "bucket", o)) for o in old)
                break
        check(ok and heavy, "once the segments outweigh the snapshot, a snapshot; the old chain kept as garbage "
              "(%s, %d garbage)" % ([c["kind"] for c in m["chain"]], len(m["garbage"])))
    finally:
        check(base.stop(proc)[0] == 0, "SIGTERM: exit 0")


def main():
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="vgd-sync-")
    src, dst, bucket = (os.path.join(tmp, x) for x in ("src", "dst", "bucket"))
    keyfile = os.path.join(tmp, "sync.key")
    conf = os.path.join(tmp, "sync.ini")
    rc, out, err = cli("sync-key", "create", keyfile)
    check(rc == 0 and os.path.getsize(keyfile) == 32 and (os.stat(keyfile).st_mode & 0o777) == 0o600,
          "sync-key create: 32 bytes, mode 0600")
    rc, out, err = cli("sync-key", "create", keyfile)
    check(rc == 1 and "never overwritten" in err, "sync-key create refuses to overwrite a key")
    sync_key = open(keyfile, "rb").read()
    with open(conf, "w") as f:
        f.write("[sync]\ntarget = file://%s\nkey_file = %s\n" % (bucket, keyfile))
    keys = {t: json.loads(cli("tenant", "create", t, "--data-dir", src)[1])["key"] for t in ("acme", "globex")}
    store = syncobj.DirStore(bucket)
    ka, kg = syncobj.Keys(sync_key, "acme"), syncobj.Keys(sync_key, "globex")
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
        # pushed while the daemon serves: per tenant a snapshot, the manifest
        # under its number, the latest manifest and the lease
        rc, summary, msg = sync(conf, src, "--all")
        check(rc == 0 and summary.get("tenants") == 2 and summary.get("objects") == 8
              and summary.get("snapshots") == 2, "sync --all while serving: %s" % msg)
        m1 = syncobj.read_manifest(store, ka)
        check(m1["seq"] == 1 and [c["kind"] for c in m1["chain"]] == ["snapshot"]
              and m1["chain"][0]["object"] == ka.name("snapshot", 1),
              "syncobj reads manifest 1: its chain is snapshot 1, under the name derived from the key")
        manifest_1 = open(os.path.join(bucket, "acme", "manifest"), "rb").read()
        lease = syncobj.read_lease(store, ka)
        box = open(os.path.join(src, "sync.box"), "rb").read().hex()
        check(lease.get("tenant") == "acme" and lease.get("box") == box and lease["expires"] > lease["taken"],
              "the lease object: acme, this box (%s), an expiry after it was taken" % box)
        # more pushes after small changes: each sends a segment, not a snapshot
        for n, doc in enumerate(("late", "later"), 2):
            api.call("PUT", "/v1/tenants/acme/documents/" + doc, {"text": "a %s pump note" % doc}, key=keys["acme"])
            base.wait_done(api, "acme", doc, keys["acme"])
            rc, got, msg = sync(conf, src, "--tenant", "acme")
            check(rc == 0 and got.get("snapshots") == 0 and got.get("objects") == 4 and 0 < got.get("pages", 0)
                  < m1["pages"], "push %d of acme after one document: a segment of %s pages (%s)"
                  % (n, got.get("pages"), msg))
        rc, got, msg = sync(conf, src, "--tenant", "acme")
        check(rc == 0 and got.get("objects") == 1 and got.get("snapshots") == 0 and got.get("pages") == 0,
              "a push of an unchanged tenant sends the lease alone: %s" % msg)
        # globex gets a segment too (for the other tenant's segment below)
        api.call("PUT", "/v1/tenants/globex/documents/g2", {"text": "globex second note"}, key=keys["globex"])
        base.wait_done(api, "globex", "g2", keys["globex"])
        rc, got, msg = sync(conf, src, "--tenant", "globex")
        check(rc == 0 and got.get("snapshots") == 0, "globex's second push is a segment: %s" % msg)
        want_rows = rows(os.path.join(src, "tenants", "acme.db"))
        want_search = searches(api, "acme", keys["acme"], queries)
    finally:
        check(base.stop(proc)[0] == 0, "SIGTERM: exit 0")

    m = syncobj.read_manifest(store, ka)
    chain = m["chain"]
    check(m["seq"] == 3 and [(c["kind"], c["seq"]) for c in chain] == [("snapshot", 1), ("segment", 2), ("segment", 3)]
          and all(c["object"] == ka.name(c["kind"], c["seq"]) for c in chain),
          "after three pushes the chain is [snapshot 1, segment 2, segment 3]: %s"
          % [(c["kind"], c["seq"]) for c in chain])
    rebuilt = syncobj.rebuild(store, ka, m, check=False)
    check(len(rebuilt) == m["pages"] * m["page_size"] and syncobj.file_hash(rebuilt, m["page_size"]) == m["file_hash"],
          "syncobj rebuilds the chain: its file has the manifest's file_hash (%d pages)" % m["pages"])
    snap_plain = syncobj.open_named(store, ka, chain[0]["object"])
    check(snap_plain.startswith(b"SQLite format 3\0") and len(snap_plain) == chain[0]["bytes"],
          "the snapshot opens to an SQLite file of the manifest's size")
    for c in chain[1:]:
        ps, count, pages = syncobj.parse_segment(c["object"], syncobj.open_named(store, ka, c["object"]))
        check(ps == m["page_size"] and 0 < len(pages) < m["pages"],
              "segment %d: %d changed pages of %d" % (c["seq"], len(pages), count))

    # nothing in the bucket gives content or a document id away
    names = store.names()
    blob = b"".join(store.get(n) for n in names)
    check(all(n.split("/")[0] in ("acme", "globex") and (n.split("/")[1] in ("manifest", "lease")
                                                          or len(n.split("/")[1]) == 32)
              for n in names), "object names: the tenant, then 32 hex digits, manifest or lease (%d objects)"
          % len(names))
    check(all(syncobj.open_all(store, {"acme": ka, "globex": kg})), "syncobj opens every object of the target")
    # needles long enough that random ciphertext does not hold them by chance
    needles = [b"pump seal 17", b"invoice for chairs", b"@example.com", b"SQLite format 3\x00", b"acme:d17",
               vocab[17].encode()]
    check(not any(n in blob for n in needles),
          "no object holds a text, an e-mail, a document key or an SQLite header in the clear")

    # restore on another box (data directory)
    rc, out, err = cli("restore", "--config", conf, "--data-dir", dst, "--tenant", "acme")
    got = json.loads(out) if rc == 0 else {}
    check(rc == 0 and got.get("seq") == 3 and got.get("key", "").startswith("vgk_"),
          "restore on a new data directory: manifest 3, a new key (%s)" % (out.strip() or err.strip()))
    restored = os.path.join(dst, "tenants", "acme.db")
    check(rows(restored) == want_rows, "every queue item and audit row as at the sync")
    same = os.path.exists(restored) and open(restored, "rb").read() == rebuilt
    check(same, "the restored file is byte for byte the file syncobj rebuilds from the chain")
    rc, out, err = cli("check", "--data-dir", dst)
    check(rc == 0 and json.loads(out)["ok"], "the restored tenant passes integrity_check and vg_hnsw_check")
    proc, api = start(dst)
    try:
        check(searches(api, "acme", got.get("key"), queries) == want_search, "every search as at the sync")
        st, body = api.call("GET", "/v1/tenants/acme/documents/d3", key=got.get("key"))
        check(st == 200 and body["chunks"][0].startswith("pump seal 3, invoice for chairs, write to <EMAIL_ADDRESS>")
              and not any("@example.com" in c for c in body["chunks"]), "a document reads back, redacted as it was")
        st, body = api.call("GET", "/v1/tenants/acme/documents/later", key=got.get("key"))
        check(st == 200 and body["status"] == "done", "the document of the last segment is there")
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
            d = os.path.join(tmp, "t-" + what.replace(" ", "-").replace("'", ""))
            rc, out, err = cli("restore", "--config", conf, "--data-dir", d, "--tenant", tenant)
            check(rc == 1 and word in err and not os.path.exists(os.path.join(d, "tenants", tenant + ".db")),
                  "%s: refused, naming %r, no tenant file (%s)" % (what, word, err.strip()))
        finally:
            shutil.rmtree(bucket)
            shutil.move(saved, bucket)
    acme = os.path.join(bucket, "acme")
    snap_name = chain[0]["object"]
    snap = os.path.join(bucket, snap_name)
    seg_name, seg2_name = chain[1]["object"], chain[2]["object"]
    seg, seg2 = os.path.join(bucket, seg_name), os.path.join(bucket, seg2_name)
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
    # segments
    tampered("a flipped byte in segment 2", lambda: flip(seg, len(open(seg, "rb").read()) // 2), seg_name)
    tampered("a flipped byte in segment 3's last chunk", lambda: flip(seg2, -2), seg2_name)
    tampered("a cut segment", lambda: cut(seg, 10), seg_name)
    tampered("segment 2 cut after its header", lambda: open(seg, "r+b").truncate(24), seg_name)

    def swap_files(a, b):
        x, y = open(a, "rb").read(), open(b, "rb").read()
        open(a, "wb").write(y)
        open(b, "wb").write(x)
    tampered("segments 2 and 3 swapped", lambda: swap_files(seg, seg2), seg_name)
    tampered("segment 3 under segment 2's name", lambda: shutil.copy(seg2, seg), seg_name)
    mg = syncobj.read_manifest(store, kg)
    gseg = os.path.join(bucket, mg["chain"][-1]["object"])
    check(mg["chain"][-1]["kind"] == "segment", "globex's chain ends with a segment")
    tampered("globex's segment under acme's segment's name", lambda: shutil.copy(gseg, seg), seg_name)
    tampered("the snapshot's bytes under segment 2's name", lambda: shutil.copy(snap, seg), seg_name)

    def drop_segment():
        """A forged manifest 3 (re-sealed with the held key, latest and
        numbered) whose chain leaves segment 2 out."""
        forged = dict(m, chain=[c for c in m["chain"] if c["seq"] != 2])
        syncobj.write_manifest(store, ka, forged)
        check(syncobj.read_manifest(store, ka)["chain"] == forged["chain"], "the forged manifest opens")
        try:
            syncobj.rebuild(store, ka)
            check(False, "syncobj refuses the chain without segment 2 too")
        except syncobj.ObjectError as e:
            check("file_hash" in str(e), "syncobj refuses the chain without segment 2 too: %s" % e)
    tampered("a chain without segment 2 (manifest re-sealed)", drop_segment, "hash differs")

    def wrong_page(path):
        """Segment 3 re-sealed under its own name with one page byte changed."""
        name = os.path.relpath(path, bucket)
        plain = bytearray(syncobj.open_named(store, ka, name))
        plain[20 + 4 + 100] ^= 0xFF
        open(path, "wb").write(syncobj.seal_object(ka.data, name, bytes(plain)))
    tampered("segment 3 re-sealed with a page changed", lambda: wrong_page(seg2), "hash differs")
    globex = os.path.join(bucket, "globex")
    gsnap = os.path.join(bucket, mg["chain"][0]["object"])
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
    before = {n: store.get(n) for n in store.names()}
    rc, out, err = cli("sync", "--config", conf2, "--data-dir", src, "--tenant", "acme")
    after = {n: store.get(n) for n in store.names()}
    check(rc == 1 and ("acme/manifest" in err or "acme/lease" in err) and before == after,
          "nor pushes over the copies of another key, leaving every object as it was (%s)" % err.strip())
    conf3 = os.path.join(tmp, "elsewhere.ini")
    with open(conf3, "w") as f:
        f.write("[sync]\ntarget = file://%s/elsewhere\nkey_file = %s\n" % (tmp, keyfile))
    rc, out, err = cli("restore", "--config", conf3, "--data-dir", os.path.join(tmp, "t-from"), "--tenant", "acme",
                       "--from", "file://" + bucket)
    check(rc == 0 and json.loads(out)["seq"] == 3
          and rows(os.path.join(tmp, "t-from", "tenants", "acme.db")) == want_rows,
          "restore --from file://… reads that target, not the config's: %s" % (out.strip() or err.strip()))
    rc, out, err = cli("restore", "--config", conf, "--data-dir", src, "--tenant", "nobody")
    check(rc == 1 and "no manifest" in err, "restore of a tenant never synced: %s" % err.strip())
    with open(conf2, "w") as f:
        f.write("[sync]\ntarget = s3://bucket/prefix\nkey_file = %s\n" % keyfile)
    rc, out, err = cli("sync", "--config", conf2, "--data-dir", src, "--all")
    check(rc == 1 and "credentials" in err and "access_key_env" in err,
          "an s3:// target without credentials says it needs them: %s" % err.strip())

    # a tenant deleted on the box: its copies wait out the retention, then go
    # (the latest manifest first), and a restore finds no tenant
    check(json.loads(cli("tenant", "create", "temp", "--data-dir", src)[1]).get("key"), "a tenant to delete")
    rc, out, err = cli("sync", "--config", conf, "--data-dir", src, "--tenant", "temp")
    temp_dir = os.path.join(bucket, "temp")
    check(rc == 0 and len(os.listdir(temp_dir)) >= 3, "temp pushed (%s)" % (out.strip() or err.strip()))
    check(cli("tenant", "delete", "temp", "--data-dir", src)[0] == 0, "tenant delete temp")
    rc, out, err = cli("sync", "--config", conf, "--data-dir", src, "--all")
    check(rc == 0 and "erased_tenants" not in json.loads(out) and len(os.listdir(temp_dir)) >= 3,
          "within the retention (a week) the deleted tenant's copies stay (%s)" % (out.strip() or err.strip()))
    now_conf = os.path.join(tmp, "now.ini")
    with open(now_conf, "w") as f:
        f.write("[sync]\ntarget = file://%s\nkey_file = %s\nretention = 0\n" % (bucket, keyfile))
    rc, out, err = cli("sync", "--config", now_conf, "--data-dir", src, "--all")
    got = json.loads(out) if rc == 0 else {}
    check(rc == 0 and got.get("erased_tenants") == 1 and not os.path.exists(temp_dir)
          and os.path.exists(os.path.join(bucket, "acme", "manifest")),
          "past the retention, sync --all erases every object of the deleted tenant, and only its (%s)"
          % (out.strip() or err.strip()))
    rc, out, err = cli("restore", "--config", conf, "--data-dir", os.path.join(tmp, "t-temp"), "--tenant", "temp")
    check(rc == 1 and "no manifest" in err, "a restore of the erased tenant finds none (%s)" % err.strip())

    # a target on another file system than the data directory (a USB stick):
    # objects are written beside their names there, not moved across
    shm = tempfile.mkdtemp(prefix="vgd-sync-", dir="/dev/shm")
    try:
        check(os.stat(shm).st_dev != os.stat(src).st_dev, "/dev/shm is another file system than the data directory")
        with open(conf2, "w") as f:
            f.write("[sync]\ntarget = file://%s/bucket\nkey_file = %s\n" % (shm, keyfile))
        rc, got, msg = sync(conf2, src, "--tenant", "globex")
        check(rc == 0 and got["objects"] == 4 and got["snapshots"] == 1,
              "sync to another file system (a new target: a snapshot): %s" % msg)
        rc, out, err = cli("restore", "--config", conf2, "--data-dir", os.path.join(tmp, "from-shm"), "--tenant", "globex")
        check(rc == 0 and rows(os.path.join(tmp, "from-shm", "tenants", "globex.db"))
              == rows(os.path.join(src, "tenants", "globex.db")), "and back, every row as in the source")
        check(not any(f.startswith(".sync-") for f in os.listdir(src)), "no work directory is left in the data directory")
        check(not any(".tmp-" in f for _, _, fs in os.walk(shm) for f in fs), "no .tmp- object is left in the target")
    finally:
        shutil.rmtree(shm)

    bytes_per_upserts(tmp, conf, src)
    print("info %.1f s" % (time.time() - t0))
    base.finish(tmp)


if __name__ == "__main__":
    main()
