#!/usr/bin/python3
"""test_bert_forward.py — the BERT encoder (vg_model_load, vg_embed,
vg_tokenize) against a forward pass written here in numpy from the BERT
definition (float64: embeddings, LayerNorm, self-attention, exact GELU, mean
pooling, L2 normalisation), on small models with random weights written in
the real model's tensor layout (all-MiniLM-L6-v2's names, with its real
vocabulary from ../shared), in F32 and in F16.  Token ids come from
vg_tokenize, which test_bert (C) checks against the Hugging Face reference.

Also: a token-classification folder (BertForTokenClassification) loads,
and broken folders fail with errors that name what is wrong.
"""
import json, os, shutil, sqlite3, sys, tempfile

EXT = os.environ.get("VG_EXTENSION", "build/vecguard.so")

try:
    import numpy as np
except ImportError:
    if os.environ.get("VG_REQUIRE_NUMPY"):
        raise
    print("test_bert_forward: SKIPPED: numpy is not installed (python3-numpy)")
    sys.exit(0)

# The model folders and the numpy forward pass, shared with test_ner.py.
from bert_folder import H, INTER, LAYERS, MODEL, expect_error, make_folder, random_weights, reference_embed

if not os.path.exists(os.path.join(MODEL, "vocab.txt")):
    print("test_bert_forward: SKIPPED: %s/vocab.txt is missing (the shared model files sit beside the checkout "
          "as ../shared; set VG_SHARED)" % MODEL)
    sys.exit(0)

def texts():
    out = [json.loads(l)["text"] for l in open(os.path.join(MODEL, "reference_tokenization.jsonl"))]
    out = [t for t in out if t.strip()]  # a text of no tokens is an error for vg_embed
    out += ["short", "Two words", "A patient reports fever and a dry cough since Monday.",
            " ".join(["long"] * 300)]
    return out


def main():
    rnd = np.random.default_rng(int(os.environ.get("VG_SEED", "17")))
    vocab = sum(1 for _ in open(os.path.join(MODEL, "vocab.txt")))
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(EXT)
    root = tempfile.mkdtemp(prefix="vg_bert_")
    try:
        corpus = texts()
        nChecked = 0
        worst, worstDiff = 1.0, 0.0
        for dtype in ("F32", "F16"):
            folder, w = make_folder(root, "m_" + dtype, random_weights(rnd, vocab), dtype)
            desc = json.loads(db.execute("SELECT vg_model_load(?, ?)", ("m" + dtype, folder)).fetchone()[0])
            assert desc["dims"] == H and desc["layers"] == LAYERS and desc["max_tokens"] == 256, desc
            ids = [[t["id"] for t in json.loads(db.execute("SELECT vg_tokenize(?, ?)", (t, "m" + dtype)).fetchone()[0])]
                   for t in corpus]
            assert max(len(i) for i in ids) == 256, "a long text is cut at max_seq_length"
            got = [np.frombuffer(db.execute("SELECT vg_embed(?, ?)", (t, "m" + dtype)).fetchone()[0], dtype="<f4")
                   for t in corpus]
            # The reference one text at a time, and in batches of 8 padded to
            # their longest: the same vectors.
            want = np.concatenate([reference_embed(w, [i]) for i in ids])
            batched = np.concatenate([reference_embed(w, ids[s:s + 8]) for s in range(0, len(ids), 8)])
            assert np.abs(want - batched).max() < 1e-9
            for t, g, r in zip(corpus, got, want):
                cos = float(g.astype(np.float64) @ r / np.linalg.norm(g))
                worst = min(worst, cos)
                diff = float(np.abs(g - r).max())
                worstDiff = max(worstDiff, diff)
                # The bound, and a tighter one on each element: float32
                # rounding is about 1e-7 here; a GELU by tanh instead of erf
                # passes the cosine and not this.
                if cos < 0.99999 or diff > 2e-6:
                    raise SystemExit("%s: cosine %.8f, largest difference %.2g with the reference for %r"
                                     % (dtype, cos, diff, t[:60]))
                nChecked += 1
        # Text is read by its length: a NUL is dropped as a control character
        # (as Hugging Face's clean_text does, joining the words around it).
        toks = json.loads(db.execute("SELECT vg_tokenize(?, 'mF32')", ("fever\x00cough",)).fetchone()[0])
        assert [(t["token"], t["start"], t["end"]) for t in toks] == \
            [("[CLS]", 0, 0), ("fever", 0, 5), ("##co", 6, 8), ("##ugh", 8, 11), ("[SEP]", 11, 11)], toks
        # A token-classification folder loads (its encoder under "bert.").
        wt = random_weights(rnd, vocab, prefix="bert.")
        wt["classifier.weight"] = rnd.standard_normal((5, H))
        wt["classifier.bias"] = rnd.standard_normal(5)
        folder, _ = make_folder(root, "ner", wt, extra_config={
            "architectures": ["BertForTokenClassification"],
            "id2label": {"0": "O", "1": "B-PER", "2": "I-PER", "3": "B-LOC", "4": "I-LOC"}})
        db.execute("SELECT vg_model_load('ner', ?)", (folder,)).fetchone()
        # Broken folders, each error naming what is wrong.
        good, _ = make_folder(root, "good", random_weights(rnd, vocab))
        bad = os.path.join(root, "noweights")
        shutil.copytree(good, bad)
        os.remove(os.path.join(bad, "model.safetensors"))
        expect_error(db, "SELECT vg_model_load('x', ?)", (bad,), "model.safetensors: No such file")
        trunc = os.path.join(root, "truncated")
        shutil.copytree(good, trunc)
        shutil.copy(os.path.join(MODEL, "model.safetensors.truncated-prefix"), os.path.join(trunc, "model.safetensors"))
        expect_error(db, "SELECT vg_model_load('x', ?)", (trunc,), "truncated file")
        shaped = os.path.join(root, "shaped")
        ws = random_weights(rnd, vocab)
        ws["encoder.layer.1.intermediate.dense.weight"] = rnd.standard_normal((INTER + 1, H))
        shaped, _ = make_folder(root, "shaped", ws)
        expect_error(db, "SELECT vg_model_load('x', ?)", (shaped,),
                     "tensor encoder.layer.1.intermediate.dense.weight has another shape or dtype; config.json "
                     "needs it F32, F16 or BF16 of shape [64, 32]")
        expect_error(db, "SELECT vg_model_load('x', ?)", (os.path.join(root, "nowhere"),), "config.json: missing")
        expect_error(db, "SELECT vg_model_load('x', ?)", ('{"path": "%s", "thread": 2}' % good,),
                     'unknown key "thread"')
        expect_error(db, "SELECT vg_model_load('hash', ?)", (good,), "not hash, hash2 or external")
        expect_error(db, "SELECT vg_model_load('x', ?)", ('{"path": ',), "the spec is not valid JSON")
        expect_error(db, "SELECT vg_tokenize('x', 'hash:384')", (), "is not a model loaded with vg_model_load")
        # Modules and pooling modes the encoder does not run are refused, not
        # skipped.
        dense = os.path.join(root, "dense")
        shutil.copytree(good, dense)
        mods = json.load(open(os.path.join(dense, "modules.json")))
        mods.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
        json.dump(mods, open(os.path.join(dense, "modules.json"), "w"))
        expect_error(db, "SELECT vg_model_load('x', ?)", (dense,),
                     'module 3 is "sentence_transformers.models.Dense"; only Transformer, Pooling and Normalize')
        pool = os.path.join(root, "pool")
        shutil.copytree(good, pool)
        pc = json.load(open(os.path.join(pool, "1_Pooling", "config.json")))
        pc["pooling_mode_mean_sqrt_len_tokens"] = True
        json.dump(pc, open(os.path.join(pool, "1_Pooling", "config.json"), "w"))
        expect_error(db, "SELECT vg_model_load('x', ?)", (pool,), "other modes are not supported")
        # A loaded name can be loaded again from elsewhere: vg_embed with a
        # model named is no index expression.
        db.execute("CREATE TABLE notes(body TEXT)")
        expect_error(db, "CREATE INDEX notes_vec ON notes(vg_embed(body, 'mF32'))", (), "non-deterministic")
        expect_error(db, "SELECT vg_tokenize('x', 'nope')", (), 'model "nope" is not loaded on this connection')
        # Threads from the spec; loading a name again replaces its model.
        d = json.loads(db.execute("SELECT vg_model_load('mF32', ?)", ('{"path": "%s", "threads": 2}' % good,))
                       .fetchone()[0])
        assert d["threads"] == 2
        names = sorted(m["name"] for m in json.loads(db.execute("SELECT vg_models()").fetchone()[0]))
        assert names == ["mF16", "mF32", "ner"], names
        print("test_bert_forward: %d vectors (F32 and F16, %d texts) agree with the numpy reference, worst cosine "
              "%.8f, largest element difference %.2g; broken folders refused" % (nChecked, len(corpus), worst,
                                                                               worstDiff))
    finally:
        shutil.rmtree(root)


main()
