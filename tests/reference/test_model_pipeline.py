#!/usr/bin/python3
"""test_model_pipeline.py — tables bound to a model the connection loaded
(vg_configure, vg_ingest, vg_queue_run, vg_search), on a small BERT model
with random weights (bert_folder.py):

- the worker cuts each text into chunks of the model's word pieces (the
  reference: vg_tokenize of the same folder read without a cut) and stores
  for each chunk the vector vg_embed gives its text;
- settings: chunk sizes counted in word pieces, bounded by the model's
  window; dimension and kind checked when binding;
- a connection that has not loaded the model keeps ingesting, and its
  vg_queue_run is an error that claims nothing; its vg_search takes a
  vector, not text;
- "external": vg_queue_run leaves the items to vg_queue_claim and
  vg_queue_complete;
- a name loaded again with another dimension fails the table's items
  instead of storing vectors of the wrong size.
"""
import json, os, shutil, sqlite3, sys, tempfile

EXT = os.environ.get("VG_EXTENSION", "build/vecguard.so")
HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import numpy as np
except ImportError:
    if os.environ.get("VG_REQUIRE_NUMPY"):
        raise
    print("test_model_pipeline: SKIPPED: numpy is not installed (python3-numpy)")
    sys.exit(0)

sys.path.insert(0, HERE)
import bert_folder as bf  # noqa: E402
from bert_folder import expect_error  # noqa: E402

if not os.path.exists(os.path.join(bf.MODEL, "vocab.txt")):
    print("test_model_pipeline: SKIPPED: %s/vocab.txt is missing (the shared model files sit beside the checkout "
          "as ../shared; set VG_SHARED)" % bf.MODEL)
    sys.exit(0)

WINDOW = 14  # max_seq_length 16, less [CLS] and [SEP]

TEXTS = [
    "The patient, Señor Núñez, reported a persistent cough and a low-grade fever for nine days.",
    "Antibiotics were prescribed; follow-up in two weeks. Café visits discouraged!",
    "short note",
    "Electroencephalography showed nonspecific abnormalities; pharmacokinetics unremarkable. " * 3,
    "日本語のテキストと English words mixed, with numbers 12345 and symbols #@!",
]


def connect(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    db.execute("SELECT vg_pii_set_key(randomblob(32))")
    return db


def one(db, sql, args=()):
    return db.execute(sql, args).fetchone()[0]


def expected_chunks(db, text, size, overlap):
    """Chunks of at most size word pieces that end and start where words do
    (a piece that is not "##" starts a word; a word longer than size is
    cut), the next starting overlap pieces before the end when a word
    starts there or earlier after the last start; as the text between."""
    toks = json.loads(one(db, "SELECT vg_tokenize(?, 'whole')", (text,)))[1:-1]
    p = [(t["start"], t["end"]) for t in toks]
    starts = [not t["token"].startswith("##") for t in toks] + [True]
    raw, out, s = text.encode(), [], 0
    while s < len(p):
        end = min(s + size, len(p))
        e2 = end
        while e2 > s and not starts[e2]:
            e2 -= 1
        end = e2 if e2 > s else end
        out.append(raw[p[s][0]:p[end - 1][1]].decode())
        if end == len(p):
            break
        nxt = end - overlap
        while nxt > s and not starts[nxt]:
            nxt -= 1
        s = nxt if nxt > s else end
    return out


def main():
    root = tempfile.mkdtemp()
    try:
        rnd = np.random.default_rng(29)
        vocab = len(open(os.path.join(bf.MODEL, "vocab.txt"), encoding="utf-8").read().splitlines())
        w = bf.random_weights(rnd, vocab)
        folder, _ = bf.make_folder(root, "m", w, sbert_config={"max_seq_length": WINDOW + 2})
        # The same model read without a cut: the reference's tokens.
        whole, _ = bf.make_folder(root, "whole", w, sbert_config={"max_seq_length": 512})
        path = os.path.join(root, "t.db")
        db = connect(path)
        db.execute("SELECT vg_model_load('m', ?)", (folder,))
        db.execute("SELECT vg_model_load('whole', ?)", (whole,))
        db.execute("CREATE VIRTUAL TABLE docs USING vg_hnsw(embedding float[%d], content_id text, "
                   "chunk_index integer, +content text fulltext)" % bf.H)
        db.execute("CREATE VIRTUAL TABLE small USING vg_hnsw(embedding float[16])")
        db.execute("CREATE VIRTUAL TABLE ext USING vg_hnsw(embedding float[4], content_id text)")

        # Settings: the window in word pieces; dimension checked.
        cfg = json.loads(one(db, "SELECT vg_configure('docs', '{\"model\": \"m\"}')"))
        assert (cfg["chunk_tokens"], cfg["chunk_overlap"]) == (WINDOW, WINDOW // 8), cfg
        expect_error(db, "SELECT vg_configure('docs', '{\"chunk_tokens\": 15}')", (),
                     "chunk_tokens must be from 1 to %d, the most model \"m\" reads" % WINDOW)
        cfg = json.loads(one(db, "SELECT vg_configure('docs', '{\"chunk_tokens\": 6, \"chunk_overlap\": 2}')"))
        assert (cfg["model"], cfg["chunk_tokens"], cfg["chunk_overlap"]) == ("m", 6, 2), cfg
        expect_error(db, "SELECT vg_configure('small', '{\"model\": \"m\"}')", (),
                     "dimension mismatch: model \"m\" makes vectors of %d values, table \"small\" holds 16" % bf.H)

        # The worker: chunks of word pieces, each chunk's vector vg_embed's.
        for i, t in enumerate(TEXTS):
            db.execute("SELECT vg_ingest('docs', '', 'note', ?, ?)", ("n%d" % i, t))
        run = json.loads(one(db, "SELECT vg_queue_run(100)"))
        want = {("n%d" % i): expected_chunks(db, t, 6, 2) for i, t in enumerate(TEXTS)}
        nChunks = sum(len(c) for c in want.values())
        assert run["done"] == len(TEXTS) and run["chunks"] == nChunks and not run["errors"], run
        assert max(len(c) for c in want.values()) >= 5, "a text spans several chunks"
        rows = db.execute("SELECT content_id, chunk_index, content, embedding FROM docs "
                          "ORDER BY content_id, chunk_index").fetchall()
        assert len(rows) == nChunks, (len(rows), nChunks)
        worst = 0.0
        for cid, k, content, blob in rows:
            if content != want[cid][k]:
                raise SystemExit("test_model_pipeline: %s chunk %d is %r, the word pieces give %r"
                                 % (cid, k, content, want[cid][k]))
            # Read again, the chunk is the same pieces: none cut by the window.
            n = len(json.loads(one(db, "SELECT vg_tokenize(?, 'whole')", (content,)))) - 2
            assert n <= 6, (cid, k, content, n)
            got = np.frombuffer(blob, dtype="<f4")
            ref = np.frombuffer(one(db, "SELECT vg_embed(?, 'm')", (content,)), dtype="<f4")
            worst = max(worst, float(np.abs(got - ref).max()))
        # Batched in the worker, alone in vg_embed: float rounding only.
        assert worst < 1e-5, worst
        # A text query is embedded with the model: its own chunk comes first.
        hit = one(db, "SELECT content FROM vg_search('docs', '', ?, 1, NULL, '{\"mode\": \"vector\"}')",
                  (want["n2"][0],))
        assert hit == want["n2"][0], hit

        # A connection without the model: it ingests, reads the settings,
        # refuses to run or embed a text query, and claims nothing.
        db2 = connect(path)
        db2.execute("SELECT vg_ingest('docs', '', 'note', 'late', 'written by a connection without the model')")
        cfg2 = json.loads(one(db2, "SELECT vg_configure('docs')"))
        assert cfg2["model"] == "m" and cfg2["model_loaded"] is False, cfg2
        expect_error(db2, "SELECT vg_queue_run(10)", (),
                     "table \"docs\": model \"m\" is not loaded on this connection: load it first "
                     "with vg_model_load('m'")
        st = db2.execute("SELECT status, attempts FROM vg_queue WHERE content_id = 'late'").fetchone()
        assert st == ("pending", 0), st
        expect_error(db2, "SELECT * FROM vg_search('docs', '', 'cough', 3, NULL, '{\"mode\": \"vector\"}')", (),
                     "model \"m\" is not loaded on this connection")
        # With work of its own (a hash table), it does that and lists the
        # waiting items.
        db2.execute("CREATE VIRTUAL TABLE plain USING vg_hnsw(embedding float[8])")
        db2.execute("SELECT vg_ingest('plain', '', 'note', 'p', 'hashed words')")
        run = json.loads(one(db2, "SELECT vg_queue_run(10)"))
        assert run["done"] == 1 and run["waiting"] == [{"table": "docs", "model": "m", "items": 1}], run
        st = db2.execute("SELECT status, attempts FROM vg_queue WHERE content_id = 'late'").fetchone()
        assert st == ("pending", 0), st
        vec = one(db, "SELECT embedding FROM docs LIMIT 1")
        assert len(db2.execute("SELECT * FROM vg_search('docs', '', ?, 3)", (vec,)).fetchall()) == 3
        # The connection with the model embeds it.
        run = json.loads(one(db, "SELECT vg_queue_run(10)"))
        assert run["done"] == 1, run

        # "external": vg_queue_run leaves the items, the outside worker
        # claims and completes them.
        db.execute("SELECT vg_configure('ext', '{\"model\": \"external\"}')")
        for i in range(3):
            db.execute("SELECT vg_ingest('ext', '', 'note', ?, 'outside words')", ("e%d" % i,))
        db.execute("SELECT vg_queue_clock(4e9)")  # long after: every item due
        run = json.loads(one(db, "SELECT vg_queue_run(100)"))
        assert run["claimed"] == 0, run
        items = json.loads(one(db, "SELECT vg_queue_claim('outside', 10)"))
        assert sorted(i["content_id"] for i in items) == ["e0", "e1", "e2"], items
        for i in items:
            db.execute("SELECT vg_queue_complete(?, '[1, 0, 0, 0]', 'outside')", (i["id"],))
        assert one(db, "SELECT count(*) FROM ext") == 3
        expect_error(db, "SELECT * FROM vg_search('ext', '', 'outside', 3)", (),
                     "the table is bound to model \"external\"")
        db.execute("SELECT vg_queue_clock()")

        # A token-classification model cannot be bound.
        wt = bf.random_weights(rnd, vocab, prefix="bert.")
        wt["classifier.weight"] = rnd.standard_normal((3, bf.H))
        wt["classifier.bias"] = rnd.standard_normal(3)
        nerDir, _ = bf.make_folder(root, "ner", wt, extra_config={
            "architectures": ["BertForTokenClassification"], "id2label": {"0": "O", "1": "B-PER", "2": "I-PER"}})
        db.execute("SELECT vg_model_load('tagger', ?)", (nerDir,))
        expect_error(db, "SELECT vg_configure('docs', '{\"model\": \"tagger\"}')", (),
                     "model \"tagger\" is a token-classification model")

        # The name loaded again as a model of another dimension: waiting
        # items fail naming it, new ones are refused; nothing of the wrong
        # size is stored.
        bf_H = bf.H
        try:
            bf.H = 16
            w16 = bf.random_weights(rnd, vocab)
            other, _ = bf.make_folder(root, "m16", w16, extra_config={"num_attention_heads": 4})
        finally:
            bf.H = bf_H
        db.execute("SELECT vg_ingest('docs', '', 'note', 'after', 'one more note')")
        db.execute("SELECT vg_model_load('m', ?)", (other,))
        expect_error(db, "SELECT vg_ingest('docs', '', 'note', 'later', 'and another')", (),
                     "dimension mismatch: model \"m\" makes vectors of 16 values, table \"docs\" holds %d" % bf.H)
        run = json.loads(one(db, "SELECT vg_queue_run(10)"))
        assert run["failed"] == 1 and "dimension mismatch" in run["errors"][0]["error"], run
        assert one(db, "SELECT count(*) FROM docs WHERE content_id = 'after'") == 0
        db2.close()
        db.close()
        print("test_model_pipeline: %d texts in %d chunks of word pieces stored with vg_embed's vectors "
              "(largest difference %.1e); a connection without the model, \"external\", rebinding checked"
              % (len(TEXTS), nChunks, worst))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
