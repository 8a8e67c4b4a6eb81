#!/usr/bin/python3
"""docs/sync.md's examples, run as written: its [sync] file (the target made
a file:// directory of this test's, the key file this test's), then its
```sh block of commands in order in a work directory, each command's JSON
output with the keys the doc shows, and the values it shows for the push of
an unchanged tenant; its status example has exactly the fields
docs/openapi.yaml's SyncStatus lists, and every [sync] key of the table is
one the daemon reads."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_vecguardd as base  # noqa: E402

check, cli = base.check, base.cli
DOCS = os.environ.get("VG_DOCS") or os.path.join(HERE, "..", "..", "docs")


def blocks(text, lang):
    return re.findall(r"```%s\n(.*?)```" % lang, text, re.S)


def main():
    doc = open(os.path.join(DOCS, "sync.md")).read()
    tmp = tempfile.mkdtemp(prefix="vgd-docsync-")
    ini = blocks(doc, "ini")
    check(len(ini) == 1, "sync.md shows one [sync] file")
    keys = re.findall(r"^(\w+) =", ini[0], re.M)
    setup = doc[doc.index("## Setting it up"):doc.index("## Commands")]
    table = re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", setup, re.M)
    listed = {k for pair in table for k in pair if k}
    check(set(keys) == listed, "the table explains every key of the example (%s vs %s)" % (sorted(keys), sorted(listed)))
    # the daemon reads each key (an unknown one is refused as unknown)
    with open(os.path.join(tmp, "bad.ini"), "w") as f:
        f.write("[sync]\nno_such_key = x\n")
    rc, out, err = cli("sync", "--config", os.path.join(tmp, "bad.ini"), "--data-dir", os.path.join(tmp, "none"), "--all")
    check(rc != 0 and "unknown" in err, "an unknown [sync] key is refused as unknown (%s)" % err.strip())
    for k in keys:
        bad = os.path.join(tmp, "bad.ini")
        with open(bad, "w") as f:
            f.write("[sync]\n%s = %s\n" % (k, "-1" if k in ("interval", "retention", "max_bytes_per_second") else "x"))
        rc, out, err = cli("sync", "--config", bad, "--data-dir", os.path.join(tmp, "none"), "--all")
        check(rc != 0 and "unknown" not in err, "[sync] %s is a key the daemon knows (%s)" % (k, err.strip()))
    conf = ini[0]
    conf = re.sub(r"^target = .*$", "target = file://%s/bucket" % tmp, conf, flags=re.M)
    conf = re.sub(r"^key_file = .*$", "key_file = %s/sync.key" % tmp, conf, flags=re.M)
    with open(os.path.join(tmp, "sync.ini"), "w") as f:
        f.write(conf)
    check(cli("sync-key", "create", os.path.join(tmp, "sync.key"))[0] == 0, "sync-key create, as the doc shows")
    check(cli("tenant", "create", "acme", "--data-dir", os.path.join(tmp, "box"))[0] == 0, "a tenant to push")
    sh = [b for b in blocks(doc, "sh") if "vecguardd sync" in b]
    check(len(sh) == 1, "sync.md shows one block of sync commands")
    lines = [l for l in sh[0].splitlines() if l.strip()]
    ran = 0
    for i, line in enumerate(lines):
        if line.startswith("#"):
            continue
        want = lines[i + 1][1:].strip() if i + 1 < len(lines) and lines[i + 1].startswith("#") else None
        args = line.split()
        check(args[0] == "vecguardd", "a command of the doc: %s" % line)
        p = subprocess.run([base.DAEMON] + args[1:], cwd=tmp, capture_output=True, text=True)
        ran += 1
        got = json.loads(p.stdout) if p.returncode == 0 else None
        shown = json.loads(want.replace("vgk_…", "vgk_x")) if want else None
        check(got is not None and shown is not None and set(got) == set(shown),
              "%s: exit 0 and the fields the doc shows (%s)" % (line, (p.stdout or p.stderr).strip()))
        if got and "--tenant acme" in line and line.split()[1] == "sync":
            check(got["objects"] == shown["objects"] and got["snapshots"] == shown["snapshots"]
                  and got["pages"] == shown["pages"], "%s: an unchanged tenant sends only its lease" % line)
    check(ran == 3, "the doc's three commands ran")
    status = json.loads(blocks(doc, "json")[0])
    schema = base.SPEC.doc["components"]["schemas"]["SyncStatus"]
    check(set(status) <= set(schema["properties"]) and set(schema["required"]) <= set(status),
          "the status example has the fields of SyncStatus")
    base.finish(tmp)


if __name__ == "__main__":
    main()
