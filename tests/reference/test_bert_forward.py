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
import json, math, os, shutil, sqlite3, struct, sys, tempfile

EXT = os.environ.get("VG_EXTENSION", "build/vecguard.so")
SHARED = os.environ.get("VG_SHARED", "../shared")
MODEL = os.path.join(SHARED, "models", "all-MiniLM-L6-v2")

try:
    import numpy as np
except ImportError:
    if os.environ.get("VG_REQUIRE_NUMPY"):
        raise
    print("test_bert_forward: SKIPPED: numpy is not installed (python3-numpy)")
    sys.exit(0)

if not os.path.exists(os.path.join(MODEL, "vocab.txt")):
    print("test_bert_forward: SKIPPED: %s/vocab.txt is missing (the shared model files sit beside the checkout "
          "as ../shared; set VG_SHARED)" % MODEL)
    sys.exit(0)

H, HEADS, INTER, LAYERS, MAXPOS, EPS = 32, 4, 64, 2, 512, 1e-12


def write_safetensors(path, tensors, dtype="F32"):
    """tensors: name -> float array (written as dtype), in the real file's
    name order; the header padded with spaces to 8 bytes, as Hugging Face's
    writer does."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        raw = (a.astype("<f2") if dtype == "F16" else a.astype("<f4")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def random_weights(rnd, vocab, prefix=""):
    def n(*shape, scale=1.0):
        return rnd.standard_normal(shape) * scale
    w = {
        "embeddings.word_embeddings.weight": n(vocab, H, scale=0.5),
        "embeddings.position_embeddings.weight": n(MAXPOS, H, scale=0.3),
        "embeddings.token_type_embeddings.weight": n(2, H, scale=0.3),
        "embeddings.LayerNorm.weight": 1 + n(H, scale=0.1),
        "embeddings.LayerNorm.bias": n(H, scale=0.1),
    }
    for l in range(LAYERS):
        p = "encoder.layer.%d." % l
        for m in ("query", "key", "value"):
            w[p + "attention.self.%s.weight" % m] = n(H, H, scale=1 / math.sqrt(H))
            w[p + "attention.self.%s.bias" % m] = n(H, scale=0.1)
        w[p + "attention.output.dense.weight"] = n(H, H, scale=1 / math.sqrt(H))
        w[p + "attention.output.dense.bias"] = n(H, scale=0.1)
        w[p + "attention.output.LayerNorm.weight"] = 1 + n(H, scale=0.1)
        w[p + "attention.output.LayerNorm.bias"] = n(H, scale=0.1)
        w[p + "intermediate.dense.weight"] = n(INTER, H, scale=1 / math.sqrt(H))
        w[p + "intermediate.dense.bias"] = n(INTER, scale=0.1)
        w[p + "output.dense.weight"] = n(H, INTER, scale=1 / math.sqrt(INTER))
        w[p + "output.dense.bias"] = n(H, scale=0.1)
        w[p + "output.LayerNorm.weight"] = 1 + n(H, scale=0.1)
        w[p + "output.LayerNorm.bias"] = n(H, scale=0.1)
    w = {prefix + k: v for k, v in w.items()}
    w[prefix + "embeddings.position_ids"] = np.arange(MAXPOS, dtype=np.float64)[None, :]  # I64 in real files
    return w


def make_folder(root, name, weights, dtype="F32", extra_config=None):
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "1_Pooling"))
    for f in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "sentence_bert_config.json",
              "modules.json", "1_Pooling/config.json"):
        shutil.copy(os.path.join(MODEL, f), os.path.join(d, f))
    cfg = json.load(open(os.path.join(MODEL, "config.json")))
    cfg.update(hidden_size=H, num_attention_heads=HEADS, intermediate_size=INTER, num_hidden_layers=LAYERS,
               max_position_embeddings=MAXPOS)
    cfg.update(extra_config or {})
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    # position_ids is an I64 tensor in the real file: write it so.
    w = {k: v for k, v in weights.items() if not k.endswith("position_ids")}
    write_safetensors(os.path.join(d, "model.safetensors"), w, dtype)
    if dtype == "F16":
        weights = {k: v.astype(np.float16).astype(np.float64) for k, v in weights.items()}
    return d, weights


def layer_norm(x, g, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * g + b


ERF = np.vectorize(math.erf)


def reference_embed(w, ids_batch):
    """Sentence vectors of a batch of id lists: padded to the longest, the
    pads masked out of attention and pooling."""
    B, L = len(ids_batch), max(len(i) for i in ids_batch)
    ids = np.zeros((B, L), dtype=np.int64)
    mask = np.zeros((B, L))
    for b, i in enumerate(ids_batch):
        ids[b, :len(i)] = i
        mask[b, :len(i)] = 1
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L][None]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    d = H // HEADS
    for l in range(LAYERS):
        p = "encoder.layer.%d." % l
        def lin(t, name):
            return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        def heads(t):
            return t.reshape(B, L, HEADS, d).transpose(0, 2, 1, 3)
        q, k, v = (heads(lin(x, "attention.self." + m)) for m in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + (1 - mask)[:, None, None, :] * -1e30
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, L, H)
        x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"])
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1 + ERF(h / math.sqrt(2)))
        x = layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1)[:, None]
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def texts():
    out = [json.loads(l)["text"] for l in open(os.path.join(MODEL, "reference_tokenization.jsonl"))]
    out = [t for t in out if t.strip()]  # a text of no tokens is an error for vg_embed
    out += ["short", "Two words", "A patient reports fever and a dry cough since Monday.",
            " ".join(["long"] * 300)]
    return out


def expect_error(db, sql, args, want):
    try:
        db.execute(sql, args).fetchall()
    except sqlite3.Error as e:
        if want not in str(e):
            raise SystemExit("%s: error %r does not say %r" % (sql, str(e), want))
        return str(e)
    raise SystemExit("%s %r: no error, expected one saying %r" % (sql, args, want))


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
        expect_error(db, "SELECT vg_tokenize('x', 'nope')", (), 'no model "nope" is loaded')
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
