#!/usr/bin/python3
"""test_lexical_scale.py — the full-text query engine (ext/table/lexical.c:
MaxScore with block-max bounds, docs/fulltext.md) on posting lists of
thousands of postings, against a brute-force BM25 written here from
docs/fulltext.md, section BM25: statistics per partition (N = rows whose
text is not NULL, df, avgLen), Lucene's idf ln(1 + (N - df + 0.5)/(df +
0.5)), k1 = 0.9, b = 0.4, the sum over the query's distinct terms of
idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avgLen)), len the row's
number of terms (repeats counted), ties by rowid.

The engine stores a list in chunks of under 900 bytes (~250 postings) and
passes over runs of chunks whose bounds cannot reach the k-th best score,
so the lists here must be long: one vg_hnsw table, ~15,000 rows in tenant
'a' and ~2,000 in 'b', texts of 3 to 60 words drawn from a Zipf-like
vocabulary of 300 made-up words (the commonest is in nearly every row) plus
~40 rare ones (in a few hundred rows down to a handful), NULL texts and
texts of stop words only among them.  About two thirds of the rows come in
runs of consecutive rowids with the same text or nearly (a word more or
less, sometimes a word repeated up to 12 times): chunks of such rows have
tight bounds, so that a bound or a comparison only a little off changes
the answer (a copy of lexical.c with a bound 3% low, a run or row pruned
2% early, or a list treated as non-essential 5% early fails this test).
Then UPDATEs (texts, lang, tenant, rowid) and DELETEs; then a last batch
of inserts and of text UPDATEs of old rows, so that rows wait in the
pending table (merged every 256 per partition) with rowids among the
merged ones.

Terms come from vg_fulltext_terms (the tokenizer has its own tests).
Queries (200 after the inserts, 600 at the end, less the few that have no
term): 1 to 25 words, common and rare or taken from a row's text, k in {1,
5, 10, 100, 1000}, tenant = 'a' or 'b' (sometimes tenant IN ('a', 'b'): a
second partition starts with the k best of the first), sometimes with
lang = ?, rowid IN (...) or rowid > N.  Checked: the number of rows is
min(k, rows holding a query term that pass the filters); the rows are the
reference's in its order, scores within 1e-9 relative, rows swapping
places only where their scores are that close; rows of exactly equal score
come by rowid.  Each one-tenant query is also run hybrid (a random vector,
exact = 1), which scores the vector side's rows on the lexical walk
(vg_lex_force), against the fusion of docs/fulltext.md ("Hybrid queries")
computed here by brute force: the union of the 100 (or k) nearest (l2) and
the 100 (or k) best by BM25, 0.2 times -distance scaled over the union plus
0.8 times bm25 over the best.  And vg_hnsw_check('d') reports the index ok,
with the rows and postings the reference counts.  A run that hangs fails
after 300 s.
"""
import bisect, json, math, os, random, sqlite3, sys, threading
from collections import Counter

import numpy as np

EXT = os.environ.get("VG_EXTENSION", "build/vecguard.so")
K1, B = 0.9, 0.4
REL = 1e-9
STOP = ("a an and are as at be but by for if in into is it no not of on or such that the their then "
        "there these they this to was will with").split()
KS = [1, 5, 10, 100, 1000]
WATCHDOG = 300  # seconds; a run takes ~6

def close(x, y):
    return abs(x - y) <= REL * max(1.0, abs(x), abs(y))

def make_vocab(rnd, n):
    cons, vows = "bcdfghjklmnprstvwz", "aeiou"
    seen, out = set(STOP), []
    while len(out) < n:
        w = "".join(rnd.choice(cons) + rnd.choice(vows) for _ in range(rnd.randint(2, 4)))
        w += rnd.choice(["", "", "n", "r", "x", "k"])
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out

class Ref:
    """The rows as they are, and BM25 over them by brute force."""
    def __init__(self, terms_of):
        self.rows = {}  # rowid -> [tenant, text, lang]
        self.terms_of = terms_of
        self.cache = {}

    def index(self, tenant):
        ix = self.cache.get(tenant)
        if ix is not None:
            return ix
        rowids = sorted(r for r, v in self.rows.items() if v[0] == tenant and v[1] is not None)
        lens = np.zeros(len(rowids))
        lang = []
        post = {}
        for i, r in enumerate(rowids):
            ts = self.terms_of(self.rows[r][1])
            lens[i] = len(ts)
            lang.append(self.rows[r][2])
            for t, c in Counter(ts).items():
                post.setdefault(t, ([], []))
                post[t][0].append(i)
                post[t][1].append(c)
        post = {t: (np.array(a, dtype=np.int64), np.array(c, dtype=np.float64)) for t, (a, c) in post.items()}
        ix = {"rowids": np.array(rowids, dtype=np.int64), "lens": lens, "lang": np.array(lang, dtype=object),
              "post": post, "n": len(rowids), "avg": float(lens.sum()) / len(rowids) if rowids else 0.0}
        self.cache[tenant] = ix
        return ix

    def changed(self):
        self.cache.clear()

    def query(self, tenants, qterms, k, lang=None, ids=None, above=None):
        """[(score, rowid)] of the k best, and the number of matches."""
        found = []
        for ten in tenants:
            ix = self.index(ten)
            if ix["n"] == 0:
                continue
            n, avg = ix["n"], ix["avg"]
            score = np.zeros(n)
            hit = np.zeros(n, dtype=bool)
            for t in set(qterms):
                if t not in ix["post"]:
                    continue
                idx, tf = ix["post"][t]
                df = len(idx)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score[idx] += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * ix["lens"][idx] / avg))
                hit[idx] = True
            if lang is not None:
                hit &= ix["lang"] == lang
            if ids is not None:
                hit &= np.isin(ix["rowids"], np.array(sorted(ids), dtype=np.int64))
            if above is not None:
                hit &= ix["rowids"] > above
            sel = np.nonzero(hit)[0]
            found.extend(zip(score[sel].tolist(), ix["rowids"][sel].tolist()))
        found.sort(key=lambda x: (-x[0], x[1]))
        return found[:k], len(found), {r: s for s, r in found}

def main():
    seed = int(os.environ.get("VG_SEED", "17"))
    rnd = random.Random(seed)
    # A walk that never ends would hang here, inside SQLite: fail instead.
    def hung():
        sys.stderr.write("test_lexical_scale: still running after %d s (seed %d): a query or write that never "
                         "ends?\n" % (WATCHDOG, seed))
        os._exit(3)
    dog = threading.Timer(WATCHDOG, hung)
    dog.daemon = True
    dog.start()
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    db.execute("CREATE VIRTUAL TABLE d USING vg_hnsw(e float[2], tenant text partition key, "
               "+body text fulltext, lang text)")

    tcache = {}
    def terms(text):
        t = tcache.get(text)
        if t is None:
            t = tcache[text] = json.loads(db.execute("SELECT vg_fulltext_terms(?)", (text,)).fetchone()[0])
        return t
    ref = Ref(terms)

    vocab = make_vocab(rnd, 300)
    rare = make_vocab(random.Random(seed + 1), 340)[300:]
    rare = [w for w in rare if w not in vocab]
    zipf = [1.0 / (r + 1) ** 1.05 for r in range(len(vocab))]
    cum = list(np.cumsum(zipf) / sum(zipf))

    def rare_word():  # the first ones in a few hundred rows, the last in a handful
        return rare[int(len(rare) * rnd.random() ** 3)]

    def zword():
        return vocab[min(bisect.bisect_left(cum, rnd.random()), len(vocab) - 1)]

    def rand_text():
        r = rnd.random()
        if r < 0.02:
            return None
        if r < 0.03:
            return " ".join(rnd.choice(STOP) for _ in range(rnd.randint(1, 5)))
        n = rnd.randint(3, 60) if rnd.random() < 0.8 else rnd.randint(3, 12)
        ws = []
        for _ in range(n):
            x = rnd.random()
            w = rnd.choice(STOP) if x < 0.12 else rare_word() if x < 0.125 else zword()
            if rnd.random() < 0.05:
                w = w.capitalize()
            ws.append(w)
        s = " ".join(ws)
        return s + "." if rnd.random() < 0.5 else s

    def rand_lang():
        return rnd.choices(["en", "es", "fr", None], [45, 30, 20, 5])[0]

    vecs = {}  # rowid -> the vector as float32 values
    def rand_vec():
        return np.array([rnd.uniform(-1, 1), rnd.uniform(-1, 1)], dtype=np.float32)

    next_id = [1]
    def insert(ten=None, text=0):
        rid = next_id[0]
        next_id[0] += rnd.randint(1, 3)
        ten = ten or ("a" if rnd.random() < 15 / 17 else "b")
        text, lang = rand_text() if text == 0 else text, rand_lang()
        vecs[rid] = rand_vec()
        db.execute("INSERT INTO d(rowid, e, tenant, body, lang) VALUES (?, ?, ?, ?, ?)",
                   (rid, vecs[rid].tobytes(), ten, text, lang))
        ref.rows[rid] = [ten, text, lang]

    def set_body(rid):
        text = rand_text()
        db.execute("UPDATE d SET body = ? WHERE rowid = ?", (text, rid))
        ref.rows[rid][1] = text

    # Runs of consecutive rows with the same text or nearly (boilerplate,
    # copies): their chunks hold rows of equal or close scores, so that a
    # chunk's bound is tight and a bound or a comparison a little off shows.
    run = []
    def run_text():
        if not run:
            if rnd.random() < 0.99:
                return rand_text()
            base = None
            while not base:
                base = rand_text()
            ws = base.split()
            if rnd.random() < 0.5:  # a word many times: a large tf
                ws += [rnd.choice(vocab[:60]) if rnd.random() < 0.6 else rare_word()] * rnd.randint(2, 12)
            run.extend([ws] * rnd.randint(20, 400))
        ws = list(run.pop())
        x = rnd.random()
        if x < 0.25:
            ws.append(zword())
        elif x < 0.5 and len(ws) > 1:
            del ws[rnd.randrange(len(ws))]
        return " ".join(ws)

    # The rows, in a few transactions.
    nRows = 17000
    per = nRows // 8
    for _ in range(8):
        db.execute("BEGIN")
        for _ in range(per):
            insert(text=run_text())
        db.execute("COMMIT")

    nChecked = [0]
    maxDf = [0]

    def check(nq):
        ref.changed()
        alla = sorted(r for r, v in ref.rows.items() if v[0] == "a")
        for _ in range(nq):
            x = rnd.random()
            tenants = ["a"] if x < 0.7 else ["b"] if x < 0.85 else ["a", "b"]
            nw = rnd.randint(1, 25) if rnd.random() < 0.6 else rnd.randint(1, 4)
            qw = []
            for _ in range(nw):
                y = rnd.random()
                qw.append(zword() if y < 0.55 else rnd.choice(vocab) if y < 0.8 else
                          rnd.choice(rare) if y < 0.9 else rare_word() if y < 0.92 else
                          rnd.choice(STOP) if y < 0.97 else "qqzzyx%d" % rnd.randint(0, 9))  # no row has it
            y = rnd.random()
            if y < 0.15:  # a query of one rare word and some common ones
                qw = [rare_word()] + [vocab[rnd.randint(0, 5)] for _ in range(rnd.randint(1, 4))]
            elif y < 0.55:  # words of a row's text: rows like it score alike
                src = None
                while not src:
                    src = ref.rows[rnd.choice(alla)][1]
                ws = src.split()
                qw = rnd.sample(ws, min(len(ws), rnd.choice([1, 1, 2, 3, 5, 8])))
            qtext = " ".join(qw)
            qt = terms(qtext)
            if not qt:
                continue
            k = rnd.choice(KS)
            sql = "SELECT rowid, score FROM d WHERE body MATCH ? AND k = ?"
            args = [qtext, k]
            if len(tenants) == 1:
                sql += " AND tenant = ?"
                args.append(tenants[0])
            else:
                sql += " AND tenant IN ('a', 'b')"
            lang = ids = above = None
            f = rnd.random()
            if f < 0.2:
                lang = rnd.choice(["en", "es", "fr"])
                sql += " AND lang = ?"
                args.append(lang)
            elif f < 0.3:
                ids = set(rnd.sample(alla, rnd.choice([5, 50, 500, 3000])))
                ids |= {rnd.randint(1, next_id[0] + 10) for _ in range(20)}  # other tenants, deleted, none
                sql += " AND rowid IN (%s)" % ",".join(map(str, sorted(ids)))
            elif f < 0.4:
                above = rnd.randint(0, next_id[0])
                sql += " AND rowid > ?"
                args.append(above)
            elif f < 0.45:
                lang = rnd.choice(["en", "es"])
                above = rnd.randint(0, next_id[0] // 2)
                sql += " AND rowid > ? AND lang = ?"
                args += [above, lang]
            what = "query %r (%d terms) tenant %s k %d%s%s%s" % (
                qtext[:200], len(set(qt)), "+".join(tenants), k, " lang %s" % lang if lang else "",
                " rowid IN (%d ids)" % len(ids) if ids is not None else "",
                " rowid > %d" % above if above is not None else "")
            try:
                got = db.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise SystemExit("test_lexical_scale: %s failed: %s" % (what, e))
            want, nMatch, refScore = ref.query(tenants, qt, k, lang, ids, above)
            if len(got) != min(k, nMatch) or len(want) != len(got):
                raise SystemExit("test_lexical_scale: %s: %d rows, expected %d (of %d matches)\n got %s\n want %s"
                                 % (what, len(got), len(want), nMatch, got[:5], [(r, s) for s, r in want[:5]]))
            if len({r for r, _ in got}) != len(got):
                raise SystemExit("test_lexical_scale: %s: a row returned twice" % what)
            for i, ((gr, gs), (ws, wr)) in enumerate(zip(got, want)):
                if gr not in refScore:
                    raise SystemExit("test_lexical_scale: %s: row %d (place %d) holds no query term or fails "
                                     "the filters" % (what, gr, i + 1))
                if not close(gs, refScore[gr]):
                    raise SystemExit("test_lexical_scale: %s: row %d scores %r, expected %r"
                                     % (what, gr, gs, refScore[gr]))
                if not close(gs, ws):
                    raise SystemExit("test_lexical_scale: %s: place %d is row %d with %r, expected row %d "
                                     "with %r\n got %s\n want %s" % (what, i + 1, gr, gs, wr, ws,
                                     got[max(0, i - 2):i + 3], [(r, s) for s, r in want[max(0, i - 2):i + 3]]))
                if i and got[i - 1][1] == gs and got[i - 1][0] > gr:
                    raise SystemExit("test_lexical_scale: %s: rows %d and %d score exactly %r but do not come "
                                     "by rowid" % (what, got[i - 1][0], gr, gs))
            nChecked[0] += 1
            if len(tenants) == 1:
                hybrid(sql, args, what, tenants[0], qt, k, lang, ids, above)
        for ten in ("a", "b"):
            ix = ref.index(ten)
            maxDf[0] = max([maxDf[0]] + [len(p[0]) for p in ix["post"].values()])

    def hybrid(sql, args, what, ten, qt, k, lang, ids, above):
        qv = rand_vec()
        hsql = sql.replace("WHERE body MATCH ?", "WHERE body MATCH ? AND e MATCH ? AND exact = 1")
        hsql = hsql.replace("SELECT rowid, score", "SELECT rowid, score, distance")
        got = db.execute(hsql, [args[0], qv.tobytes()] + args[1:]).fetchall()
        depth = max(k, 100)
        want_l, _, sc = ref.query([ten], qt, depth, lang, ids, above)
        passing = [r for r, v in ref.rows.items() if v[0] == ten and (lang is None or v[2] == lang)
                   and (ids is None or r in ids) and (above is None or r > above)]
        q64 = qv.astype(np.float64)
        dist = {r: float(np.linalg.norm(vecs[r].astype(np.float64) - q64)) for r in passing}  # l2, the default
        V = sorted(passing, key=lambda r: (dist[r], r))[:depth]
        U = set(V) | {r for _, r in want_l}
        want = []
        if U:
            smin = min(-dist[r] for r in U)
            smax = max(-dist[r] for r in U)
            bmax = want_l[0][0] if want_l else 0.0
            for r in U:
                v = (-dist[r] - smin) / (smax - smin) if smax > smin else 0.0
                l = sc.get(r, 0.0) / bmax if bmax > 0 else 0.0
                want.append((0.2 * v + 0.8 * l, r))
            want.sort(key=lambda x: (-x[0], x[1]))
        fused = {r: f for f, r in want}
        want = want[:k]
        if len(got) != len(want):
            raise SystemExit("test_lexical_scale: hybrid %s: %d rows, expected %d" % (what, len(got), len(want)))
        # Distances are float32 in the table: rows whose fused scores differ by
        # less than that may swap places; each row's own score must be right.
        for (gr, gs, gd), (ws, wr) in zip(got, want):
            if gr not in fused or abs(gs - fused[gr]) > 1e-5 or abs(gs - ws) > 1e-5:
                raise SystemExit("test_lexical_scale: hybrid %s: row %d scores %r (its own: %r), expected row %d "
                                 "with %r\n got %s\n want %s" % (what, gr, gs, fused.get(gr), wr, ws, got[:4], want[:4]))
            if abs(gd - dist[gr]) > 1e-5:
                raise SystemExit("test_lexical_scale: hybrid %s: row %d distance %r, expected %r"
                                 % (what, gr, gd, dist[gr]))
        nHybrid[0] += 1

    nHybrid = [0]
    check(200)

    # Updates and deletes.
    db.execute("BEGIN")
    for _ in range(1500):
        rid = rnd.choice(list(ref.rows))
        x = rnd.random()
        if x < 0.45:
            set_body(rid)
        elif x < 0.55:
            lang = rand_lang()
            db.execute("UPDATE d SET lang = ? WHERE rowid = ?", (lang, rid))
            ref.rows[rid][2] = lang
        elif x < 0.6:
            ten = "b" if ref.rows[rid][0] == "a" else "a"
            db.execute("UPDATE d SET tenant = ? WHERE rowid = ?", (ten, rid))
            ref.rows[rid][0] = ten
        elif x < 0.62:
            new = next_id[0]
            next_id[0] += 1
            db.execute("UPDATE d SET rowid = ? WHERE rowid = ?", (new, rid))
            ref.rows[new] = ref.rows.pop(rid)
            vecs[new] = vecs.pop(rid)
        elif x < 0.9:
            db.execute("DELETE FROM d WHERE rowid = ?", (rid,))
            del ref.rows[rid]
        else:
            insert()
    db.execute("COMMIT")

    # The last batch: new rows, and old rows' texts again, left pending.
    db.execute("BEGIN")
    for _ in range(100):
        insert("a")
    for _ in range(20):
        insert("b")
    olda = sorted(r for r, v in ref.rows.items() if v[0] == "a")[:len(ref.rows) // 2]
    for rid in rnd.sample(olda, 60):
        set_body(rid)
    db.execute("COMMIT")

    def pending():
        rows = [r for (r,) in db.execute("SELECT row FROM d_ftpend")]
        return [r for r in rows if ref.rows[r][0] == "a"], [r for r in rows if ref.rows[r][0] == "b"]
    pa, pb = pending()
    # Should a merge have just emptied them, more old rows' texts (deterministic).
    tries = 0
    while (len(pa) < 10 or min(pa) > max(olda)) and tries < 300:
        rid = rnd.choice(olda)
        if ref.rows[rid][1] is not None:
            set_body(rid)
        tries += 1
        pa, pb = pending()
    if not pa or min(pa) > max(olda) or not pb:
        raise SystemExit("test_lexical_scale: the run should leave rows pending in both tenants, some among "
                         "merged rowids: %d pending in a, %d in b" % (len(pa), len(pb)))

    check(600)

    rep = json.loads(db.execute("SELECT vg_hnsw_check('d')").fetchone()[0])
    ft = rep.get("fulltext", {})
    wantRows = sum(1 for v in ref.rows.values() if v[1] is not None)
    wantPost = sum(len(set(terms(v[1]))) for v in ref.rows.values() if v[1] is not None)
    if not rep.get("ok") or not ft.get("ok") or ft.get("rows") != wantRows or ft.get("postings") != wantPost:
        raise SystemExit("test_lexical_scale: vg_hnsw_check: %s; expected ok with %d rows and %d postings"
                         % (json.dumps(rep), wantRows, wantPost))
    nChunks = db.execute("SELECT max(c) FROM (SELECT count(*) AS c FROM d_ftpost GROUP BY part, term)").fetchone()[0]
    print("test_lexical_scale: %d queries (and %d hybrid) matched the reference over %d rows (%d + %d pending in "
          "a + b); longest posting list %d postings, %d chunks; vg_hnsw_check ok (seed %d)"
          % (nChecked[0], nHybrid[0], len(ref.rows), len(pa), len(pb), maxDf[0], nChunks, seed))
    dog.cancel()
    return 0

if __name__ == "__main__":
    sys.exit(main())
