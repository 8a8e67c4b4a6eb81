"""bert_folder.py — small BERT models for the reference tests
(test_bert_forward.py, test_ner.py, test_model_pipeline.py): random weights in the real
all-MiniLM-L6-v2 tensor layout, written as a model folder with the real
vocabulary and tokenizer files from ../shared ($VG_SHARED), and the encoder's
forward pass in float64 numpy from the BERT definition (embeddings,
LayerNorm, self-attention, exact GELU).

Import it after checking that numpy is installed and that MODEL/vocab.txt
exists: the tests skip without them.
"""
import json, math, os, shutil, sqlite3, struct, sys

import numpy as np

SHARED = os.environ.get("VG_SHARED", "../shared")
MODEL = os.path.join(SHARED, "models", "all-MiniLM-L6-v2")

H, HEADS, INTER, LAYERS, MAXPOS, EPS = 32, 4, 64, 2, 512, 1e-12

# The files a sentence-transformers folder holds besides config.json and the
# weights; a Hugging Face (transformers) folder holds only the first three.
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
SBERT_FILES = TOKENIZER_FILES + ("sentence_bert_config.json", "modules.json", "1_Pooling/config.json")


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


def random_weights(rnd, vocab, prefix="", maxpos=MAXPOS):
    def n(*shape, scale=1.0):
        return rnd.standard_normal(shape) * scale
    w = {
        "embeddings.word_embeddings.weight": n(vocab, H, scale=0.5),
        "embeddings.position_embeddings.weight": n(maxpos, H, scale=0.3),
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
    w[prefix + "embeddings.position_ids"] = np.arange(maxpos, dtype=np.float64)[None, :]  # I64 in real files
    return w


def make_folder(root, name, weights, dtype="F32", extra_config=None, files=SBERT_FILES, sbert_config=None):
    """The folder root/name: the files named (copied from MODEL), config.json
    (MODEL's, with this module's sizes, updated by extra_config),
    sentence_bert_config.json replaced by sbert_config if given, and
    model.safetensors.  Returns the folder and the weights as the file holds
    them (F16-rounded for F16)."""
    d = os.path.join(root, name)
    os.makedirs(d)
    for f in files:
        os.makedirs(os.path.dirname(os.path.join(d, f)), exist_ok=True)
        shutil.copy(os.path.join(MODEL, f), os.path.join(d, f))
    if sbert_config is not None:
        json.dump(sbert_config, open(os.path.join(d, "sentence_bert_config.json"), "w"))
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


def encode(w, ids_batch):
    """The encoder's last hidden states of a batch of id lists (token type
    0, positions from 0): padded to the longest, the pads masked out of
    attention.  Returns (states [B, L, H], mask [B, L]).  w holds the
    encoder's tensors without a prefix."""
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
    return x, mask


def reference_embed(w, ids_batch):
    """Sentence vectors of a batch of id lists: mean pooling over each
    text's tokens (not the pads), L2-normalized."""
    x, mask = encode(w, ids_batch)
    pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1)[:, None]
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def expect_error(db, sql, args, want):
    """The statement fails with an error that says want; the message."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    try:
        db.execute(sql, args).fetchall()
    except sqlite3.Error as e:
        if want not in str(e):
            raise SystemExit("%s: FAILED: %s: error %r does not say %r" % (name, sql, str(e), want))
        return str(e)
    raise SystemExit("%s: FAILED: %s %r: no error, expected one saying %r" % (name, sql, args, want))
