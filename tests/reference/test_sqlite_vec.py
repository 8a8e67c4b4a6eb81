#!/usr/bin/python3
"""test_sqlite_vec.py — vg_hnsw against sqlite-vec itself (0.1.9, the npm
package sqlite-vec-linux-x64, fetched with npm pack into the build folder):

1. every ```sqlite-vec block of docs/sqlite-vec.md runs, in order, on one
   connection with both extensions loaded, and prints the ```output block
   that follows it (as the sqlite3 shell would);
2. the migration recipe of that page (its first two ```sqlite-vec blocks:
   the vec0 table, then the vg_hnsw table and the copy), with the vector
   declaration replaced in turn by float[N] under l2 and cosine, int8[N]
   under l2, cosine and l1, and bit[N], copies 2,000 random rows (two
   tenants, four categories); then every vector must be the same bytes, and
   100 queries per table, with and without a category filter, must return
   the same rows at the same distances as vec0 does: with exact = 1, and
   from the graph at ef = 400 (exact = 0).  int8 and bit distances must be
   equal (==) to sqlite-vec's, and to the formula computed here; float
   ones within 1e-5 (the sums run in another order).  Rows at a tie on the
   k-th distance may differ, each having that distance.

SKIPPED when npm cannot fetch the package (or the machine is not
x86-64 Linux, the only build npm has at that name).
"""
import math, os, platform, random, re, shutil, sqlite3, struct, subprocess, sys, tarfile, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXT = os.path.abspath(os.environ.get("VG_EXTENSION", os.path.join(ROOT, "build/vecguard.so")))
BUILD = os.path.abspath(os.environ.get("VG_BUILD", os.path.join(ROOT, "build")))
DOC = os.path.join(os.environ.get("VG_DOCS", os.path.join(ROOT, "docs")), "sqlite-vec.md")
PACKAGE = "sqlite-vec-linux-x64@0.1.9"
DECL = "embedding int8[8] distance_metric=cosine"
ROWS, QUERIES, K, EF = 2000, 100, 10, 400


def skip(why):
    print("test_sqlite_vec: SKIPPED: " + why)
    sys.exit(0)


def fetch_vec0():
    """vec0.so of sqlite-vec 0.1.9 under BUILD/sqlite-vec-0.1.9, fetched once."""
    folder = os.path.join(BUILD, "sqlite-vec-0.1.9")
    so = os.path.join(folder, "package", "vec0.so")
    if os.path.exists(so):
        return so
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        skip("sqlite-vec's npm build %s is for x86-64 Linux" % PACKAGE)
    if shutil.which("npm") is None:
        skip("npm is not installed (Debian 12: apt-get install npm), so %s cannot be fetched" % PACKAGE)
    os.makedirs(BUILD, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=BUILD)
    try:
        r = subprocess.run(["npm", "pack", "--silent", PACKAGE], cwd=tmp, capture_output=True, text=True)
        tgz = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
        if r.returncode != 0 or not tgz:
            skip("npm could not fetch %s: %s" % (PACKAGE, (r.stderr or r.stdout).strip()[:300]))
        with tarfile.open(os.path.join(tmp, tgz[0])) as t:
            member = t.getmember("package/vec0.so")
            t.extract(member, tmp)
        os.makedirs(os.path.join(folder, "package"), exist_ok=True)
        os.replace(os.path.join(tmp, "package", "vec0.so"), so)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return so


def connect(vec0):
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    db.load_extension(vec0)
    return db


# ---- the page's blocks -----------------------------------------------------

def doc_blocks():
    """[(sql, expected output or None, line)] of the ```sqlite-vec blocks."""
    text = open(DOC, encoding="utf-8").read()
    out = []
    for m in re.finditer(r"^```sqlite-vec\n(.*?)^```\n", text, re.S | re.M):
        rest = text[m.end():].lstrip("\n")
        want = None
        o = re.match(r"```output\n(.*?)^```\n", rest, re.S | re.M)
        if o:
            want = o.group(1)
        out.append((m.group(1), want, text[:m.start()].count("\n") + 1))
    return out


def statements(sql):
    """The statements of sql, split where SQLite would end one."""
    out, start = [], 0
    for i, c in enumerate(sql):
        if c == ";" and sqlite3.complete_statement(sql[start:i + 1]):
            out.append(sql[start:i + 1].strip())
            start = i + 1
    if sql[start:].strip():
        out.append(sql[start:].strip())
    return out


def shell_text(v):
    """A value as the sqlite3 shell prints it (list mode)."""
    if v is None:
        return ""
    if isinstance(v, float):
        s = "%.15g" % v
        if not re.search(r"[.en]", s):  # SQLite's "%!.15g": 1 -> 1.0
            s += ".0"
        return s
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return str(v)


def run_block(db, sql):
    lines = []
    for st in statements(sql):
        try:
            for row in db.execute(st):
                lines.append("|".join(shell_text(v) for v in row))
        except sqlite3.Error as e:
            lines.append("Error: %s" % e)
    return "".join(l + "\n" for l in lines)


def check_page(vec0, blocks):
    db = connect(vec0)
    for sql, want, line in blocks:
        got = run_block(db, sql)
        if want is not None and got != want:
            sys.exit("test_sqlite_vec: %s:%d: the example's output differs\n--- documented:\n%s--- actual:\n%s"
                     % (DOC, line, want, got))
        if want is None and "Error: " in got:
            sys.exit("test_sqlite_vec: %s:%d: the example fails:\n%s" % (DOC, line, got))
    db.close()
    print("docs/sqlite-vec.md: %d sqlite-vec examples, %d with checked output"
          % (len(blocks), sum(w is not None for _, w, _ in blocks)))


# ---- the recipe on random tables ------------------------------------------

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


class Kind:
    """One vector declaration: how to make, pass and measure its vectors."""

    def __init__(self, decl):
        m = re.match(r"embedding (float|int8|bit)\[(\d+)\](?: distance_metric=(\w+))?$", decl)
        self.decl, self.type, self.n = decl, m.group(1), int(m.group(2))
        self.metric = m.group(3) or ("hamming" if self.type == "bit" else "l2")
        self.exact = self.type != "float"
        self.tol = 0.0 if self.exact else 1e-5
        self.wrap = {"float": "?", "int8": "vec_int8(?)", "bit": "vec_bit(?)"}[self.type]

    def random(self, rnd, centre):
        if self.type == "float":
            v = [f32(c + rnd.uniform(-0.3, 0.3)) for c in centre]
            return struct.pack("<%df" % self.n, *v)
        if self.type == "int8":
            v = [max(-128, min(127, c + rnd.randint(-25, 25))) for c in centre]
            if not any(v):
                v[0] = 1
            return struct.pack("<%db" % self.n, *v)
        return bytes(c ^ (rnd.getrandbits(8) & rnd.getrandbits(8) & rnd.getrandbits(8)) for c in centre)

    def centre(self, rnd):
        if self.type == "float":
            return [rnd.uniform(-1, 1) for _ in range(self.n)]
        if self.type == "int8":
            return [rnd.randint(-100, 100) for _ in range(self.n)]
        return [rnd.getrandbits(8) for _ in range(self.n // 8)]

    def distance(self, a, b):
        """As sqlite-vec computes it (exactly for int8 and bit)."""
        if self.type == "bit":
            return float(sum(bin(x ^ y).count("1") for x, y in zip(a, b)))
        if self.type == "int8":
            x, y = struct.unpack("<%db" % self.n, a), struct.unpack("<%db" % self.n, b)
            if self.metric == "l1":
                return float(sum(abs(p - q) for p, q in zip(x, y)))
            if self.metric == "l2":
                return f32(math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y))))
            dot, aa, bb = (sum(p * q for p, q in zip(x, y)), sum(p * p for p in x), sum(q * q for q in y))
            return f32(1 - dot / (math.sqrt(aa) * math.sqrt(bb)))
        x, y = struct.unpack("<%df" % self.n, a), struct.unpack("<%df" % self.n, b)
        if self.metric == "l2":
            return math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y)))
        dot, aa, bb = (sum(p * q for p, q in zip(x, y)), sum(p * p for p in x), sum(q * q for q in y))
        return 1 - dot / (math.sqrt(aa) * math.sqrt(bb))


def same_top(kind, ref, got, vec_of, qv):
    """Why got differs from vec0's ref ([(doc_id, distance)]), or None."""
    if len(ref) != len(got):
        return "%d rows, vec0 %d" % (len(got), len(ref))
    for (a, da), (b, db) in zip(ref, got):
        if abs(da - db) > kind.tol * max(1.0, abs(da)):
            return "distance %r (%s), vec0 %r (%s)" % (db, b, da, a)
    for b, db in got:
        want = kind.distance(vec_of[b], qv)
        if abs(want - db) > kind.tol * max(1.0, abs(want)):
            return "row %s at %r; its distance is %r" % (b, db, want)
    if ref:
        edge = ref[-1][1] - kind.tol * max(1.0, abs(ref[-1][1]))
        inner = lambda rows: sorted(i for i, d in rows if d < edge)
        if inner(ref) != inner(got):
            return "rows %s, vec0 %s" % (inner(got), inner(ref))
    return None


def migrate(vec0, blocks, decl, seed):
    kind = Kind(decl)
    rnd = random.Random(seed)
    src, recipe = blocks[0][0], blocks[1][0]
    for what, sql in (("the vec0 table's block", src), ("the recipe", recipe)):
        if sql.count(DECL) != 1:
            sys.exit("test_sqlite_vec: %s in %s must declare '%s' once" % (what, DOC, DECL))
    db = connect(vec0)
    # the vec0 table as the page creates it (its first statement), with this
    # test's vector declaration; then random rows
    db.execute(statements(src)[0].replace(DECL, decl))
    centres = [kind.centre(rnd) for _ in range(8)]
    vec_of, tenant_of, cat_of = {}, {}, {}
    db.execute("BEGIN")
    for i in range(ROWS):
        doc = "d%05d" % i
        v = kind.random(rnd, rnd.choice(centres))
        vec_of[doc], tenant_of[doc], cat_of[doc] = v, rnd.choice(("acme", "globex")), rnd.choice(("faq", "note", "deal", "misc"))
        db.execute("INSERT INTO old_docs(tenant, doc_id, embedding, category, body) VALUES (?, ?, %s, ?, ?)" % kind.wrap,
                   (tenant_of[doc], doc, v, cat_of[doc], "body %d" % i))
    db.execute("COMMIT")
    # the recipe, as the page writes it
    for st in statements(recipe.replace(DECL, decl)):
        db.execute(st)
    n, same = db.execute("SELECT count(*), sum(d.embedding = o.embedding AND d.tenant = o.tenant AND "
                         "d.category = o.category AND d.body = o.body) "
                         "FROM old_docs o JOIN docs d USING (doc_id)").fetchone()
    if (n, same) != (ROWS, ROWS):
        sys.exit("test_sqlite_vec: %s: %d rows joined, %d the same; want %d" % (decl, n, same, ROWS))
    for doc, v in db.execute("SELECT doc_id, embedding FROM docs"):
        if v != vec_of[doc]:
            sys.exit("test_sqlite_vec: %s: row %s's vector is not the bytes written" % (decl, doc))
    ok = db.execute("SELECT json_extract(vg_hnsw_check('docs'), '$.ok')").fetchone()[0]
    if ok != 1:
        sys.exit("test_sqlite_vec: %s: vg_hnsw_check: %s" % (decl, db.execute("SELECT vg_hnsw_check('docs')").fetchone()[0]))
    where = "embedding MATCH %s AND k = %d AND tenant = ?" % ("%s", K)
    counts = {"exact": 0, "graph": 0}
    for qi in range(QUERIES):
        qv = kind.random(rnd, rnd.choice(centres))
        tenant = rnd.choice(("acme", "globex"))
        filt, args = ("", ()) if qi % 2 == 0 else (" AND category = ?", (rnd.choice(("faq", "note", "deal", "misc")),))
        ref = db.execute("SELECT doc_id, distance FROM old_docs WHERE " + (where % kind.wrap) + filt,
                         (qv, tenant) + args).fetchall()
        for mode, extra in (("exact", " AND exact = 1"), ("graph", " AND exact = 0 AND ef = %d" % EF)):
            got = db.execute("SELECT doc_id, distance FROM docs WHERE " + (where % "?") + filt + extra,
                             (qv, tenant) + args).fetchall()
            why = same_top(kind, ref, got, vec_of, qv)
            if why:
                sys.exit("test_sqlite_vec: %s, query %d (%s, tenant %s%s): %s" % (decl, qi, mode, tenant,
                                                                               filt and ", " + args[0], why))
            counts[mode] += 1
    db.close()
    print("%-42s %d rows copied, byte-identical; top-%d equal to vec0's in %d/%d queries (exact = 1) and "
          "%d/%d (graph, ef = %d)%s"
          % (decl, ROWS, K, counts["exact"], QUERIES, counts["graph"], QUERIES, EF,
             "; distances ==" if kind.exact else "; distances within 1e-5"))


def main():
    if not os.path.exists(EXT):
        sys.exit("test_sqlite_vec: %s is missing: make first" % EXT)
    vec0 = fetch_vec0()
    blocks = doc_blocks()
    if len(blocks) < 3:
        sys.exit("test_sqlite_vec: %s has %d ```sqlite-vec blocks; the recipe needs 3" % (DOC, len(blocks)))
    check_page(vec0, blocks)
    for seed, decl in enumerate(("embedding float[16] distance_metric=l2",
                                 "embedding float[16] distance_metric=cosine",
                                 "embedding int8[64] distance_metric=l2",
                                 "embedding int8[64] distance_metric=cosine",
                                 "embedding int8[64] distance_metric=l1",
                                 "embedding bit[128]")):
        migrate(vec0, blocks, decl, 100 + seed)
    print("test_sqlite_vec: OK")


if __name__ == "__main__":
    main()
