#!/usr/bin/python3
"""test_embed_hash.py — the built-in embedders `hash` and `hash2` (vg_embed)
against a second implementation written here from their specification:
docs/embed.md ("The hash2 and hash models") and the header comment of
ext/embed/embed_hash.c, with the details the prose leaves open taken from
the C (tokens as ext/embed/embed.c's vg_tokens cuts them; the stop words of
FT_STOP_WORDS in ext/fulltext/fulltext.h).

The reference, byte by byte:
  * tokens: maximal runs of bytes other than ASCII whitespace (space, \\t,
    \\n, \\v, \\f, \\r); only the first 512 are read;
  * each is stripped of ASCII punctuation (!../ :..@ [..` {..~) at both ends
    (an empty result is skipped) and lower-cased, ASCII A-Z only;
  * hash2 skips the 33 stop words, unless every kept token is one;
  * features: the token (weight 1), under hash the token with the previous
    kept one, joined by a space (0.5), and the runs of 3 (hash, 0.25) or of
    3, 4 and 5 (hash2, 0.5) characters of "<" + the token's first 100 bytes,
    cut back to a UTF-8 character boundary, + ">";
  * a feature's hash: FNV-1a 64 from the offset basis XOR its kind (1
    token, 2 pair, 3 three-character, 14 four, 15 five) — under hash2 then
    one FNV multiplication, as if the kind were a byte of its own, plus
    twice 0x9e3779b97f4a7c15 — then
    splitmix64's finalizer; features of equal hash are one feature seen tf
    times, with the weight of the first made, adding
    sign * weight * (1 + ln tf) at dimension hash mod dims, minus when the
    top bit is set; the vector is scaled to length 1.

Compared, element by element within 1e-6 (the C stores float32), for the
models hash, hash:7, hash:384, hash2, hash2:5 and hash2:1024 over random
texts (ASCII words, punctuation around words, upper case, digits, stop
words, texts of stop words only, tokens of 150+ bytes with a multi-byte
character across byte 100, non-ASCII words, tabs and line breaks and bytes
that look like whitespace but are not, repeated words, texts of more than
512 tokens, pairs of words whose hashes of different kinds are equal) and,
when $VG_SHARED/data/beir-scifact/queries.jsonl exists (VG_SHARED defaults
to ../shared), SciFact's queries.  A text of nothing but whitespace and
punctuation must be the error "... has no words to embed ...".

Under hash, features of different kinds can have equal hashes (the kind
only XORs into the first byte: the token "ten" and the piece "ven" of
"seven" hash alike); then the first made gives the weight.  Under hash2 the
kind is hashed as a byte of its own, and the summary line counts the texts
where hash2 still has equal hashes of different weights (expected: none).
"""
import json, math, os, random, re, sqlite3, sys

import numpy as np

EXT = os.environ.get("VG_EXTENSION", "build/vecguard.so")
SHARED = os.environ.get("VG_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "..", "..", "shared"))
MODELS = ["hash", "hash:7", "hash:384", "hash2", "hash2:5", "hash2:1024"]
TOL = 1e-6

MASK = (1 << 64) - 1
FNV_BASIS, FNV_PRIME = 0xcbf29ce484222325, 0x100000001b3
KIND_TOKEN, KIND_PAIR = 1, 2
KIND_GRAM = {3: 3, 4: 14, 5: 15}
MAX_TOKENS, TOKEN_BYTES = 512, 100
STOP = set(b"a an and are as at be but by for if in into is it no not of on or such that "
           b"the their then there these they this to was will with".split())
PUNCT = set(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# name -> (token weight, pair weight, piece weight, piece lengths, drop stop words)
SPEC = {"hash": (1.0, 0.5, 0.25, (3,), False),
        "hash2": (1.0, 0.0, 0.5, (3, 4, 5), True)}

_hcache = {}

def fhash(kind, data, kindByte=False):
    """FNV-1a from basis ^ kind (times the FNV prime once more with kindByte)
    over data (already lower-cased), then splitmix64's finalizer."""
    key = (kind, data, kindByte)
    h = _hcache.get(key)
    if h is not None:
        return h
    x = FNV_BASIS ^ kind
    if kindByte:
        x = (x * FNV_PRIME + 2 * 0x9E3779B97F4A7C15) & MASK
    for c in data:
        x = ((x ^ c) * FNV_PRIME) & MASK
    x ^= x >> 30
    x = (x * 0xbf58476d1ce4e5b9) & MASK
    x ^= x >> 27
    x = (x * 0x94d049bb133111eb) & MASK
    x ^= x >> 31
    _hcache[key] = x
    return x

def tokens(text):
    return re.findall(rb"[^ \t\n\v\f\r]+", text)[:MAX_TOKENS]

def strip_punct(tok):
    i, j = 0, len(tok)
    while i < j and tok[i] in PUNCT:
        i += 1
    while j > i and tok[j - 1] in PUNCT:
        j -= 1
    return tok[i:j]

def pieces(tok, n):
    """The runs of n characters of "<" + tok's first 100 bytes (whole characters) + ">"."""
    if len(tok) > TOKEN_BYTES:
        cut = TOKEN_BYTES
        while cut > 0 and (tok[cut] & 0xC0) == 0x80:
            cut -= 1
        tok = tok[:cut]
    s = b"<" + tok + b">"
    starts = [i for i, c in enumerate(s) if (c & 0xC0) != 0x80] + [len(s)]
    nChar = len(starts) - 1
    return [s[starts[i]:starts[i + n]] for i in range(nChar - n + 1)]

def features(model, text):
    """[(hash, weight)] in the order the text gives them."""
    wTok, wPair, wGram, grams, dropStop = SPEC[model]
    toks = [t for t in (strip_punct(t).lower() for t in tokens(text)) if t]
    if dropStop and not all(t in STOP for t in toks):
        toks = [t for t in toks if t not in STOP]
    kb = model == "hash2"
    out, prev = [], None
    for t in toks:
        out.append((fhash(KIND_TOKEN, t, kb), wTok))
        if prev is not None and wPair > 0:
            out.append((fhash(KIND_PAIR, prev + b" " + t, kb), wPair))
        for g in grams:
            out.extend((fhash(KIND_GRAM[g], p, kb), wGram) for p in pieces(t, g))
        prev = t
    return out

def groups(feats):
    """hash -> [count, weight of the first, set of weights]."""
    g = {}
    for h, w in feats:
        e = g.get(h)
        if e is None:
            g[h] = [1, w, {w}]
        else:
            e[0] += 1
            e[2].add(w)
    return g

def vector(g, dims, choice=None):
    acc = np.zeros(dims)
    for h, (tf, w, _) in g.items():
        if choice and h in choice:
            w = choice[h]
        v = w * (1.0 + math.log(tf))
        acc[h % dims] += -v if h >> 63 else v
    norm = math.sqrt(float(np.dot(acc, acc)))
    return acc / norm if norm > 0 else None

# ---- texts ------------------------------------------------------------------

WORDS = ("fever cough rash pain headache nausea patient doctor clinic hospital therapy vaccine "
         "antibody virus protein gene cell cells cancer tumor insulin dose study results "
         "seven ten other rather weather father cat aat running runs ran connection "
         "interleukin mitochondria p53 IL-6 TNF-alpha COVID-19 x y z").split()
STOPW = sorted(w.decode() for w in STOP)
NONASCII = ["café", "Café", "CAFÉ", "straße", "Straße", "naïve", "中文", "東京都", "москва", "Москва",
            "αβγ", "ΔΕΛΤΑ", "😀", "👍🏽", "e\u0301", "ﬁ", "ＡＢＣ", "nbsp\u00a0joined", "x\u2003y",
            "\u00e9\u00e9\u00e9", "ǅ", "İstanbul"]
WRAP = [("(", "),"), ("--", ""), ("'", "'"), ('"', '".'), ("[", "]"), ("", "..."), ("¿", "?"),
        ("<", ">"), ("{", "};"), ("*", "*"), ("`", "`"), ("", "'s"), ("#", ""), ("@", ":")]
SEPS = [" ", " ", " ", " ", "  ", "\t", "\n", "\r\n", "\v", "\f", " \t ", "\x1c", "\x1f", "\u00a0",
        "\u3000"]

def long_token(rnd):
    """150+ bytes, often with a multi-byte character across byte 100 of the stripped token."""
    lead = rnd.choice(["", "(", "--", "\"'"])
    ch = rnd.choice(["é", "中", "😀", "ß", "a"])
    n = len(ch.encode())
    pre = rnd.choice(["a", "B", "7", "x-"]) * 120
    pre = pre[:TOKEN_BYTES - rnd.randint(0, n)]  # the character starts at or before byte 100
    body = pre + ch + "".join(rnd.choice("abcXYZé中😀-_.") for _ in range(rnd.randint(50, 120)))
    return lead + body + rnd.choice(["", ")", ".,", "!"])

def word(rnd):
    r = rnd.random()
    if r < 0.45:
        w = rnd.choice(WORDS)
    elif r < 0.62:
        w = rnd.choice(STOPW)
    elif r < 0.72:
        w = rnd.choice(NONASCII)
    elif r < 0.78:
        w = str(rnd.randint(0, 10 ** rnd.randint(1, 6)))
    elif r < 0.82:
        w = "".join(rnd.choice("!?.,;:-()[]'\"") for _ in range(rnd.randint(1, 4)))
    elif r < 0.84:
        w = long_token(rnd)
    elif r < 0.92:
        w = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyzABCZ") for _ in range(rnd.randint(1, 12)))
    else:
        w = rnd.choice(WORDS) + rnd.choice(["-", "/", "'", ".", "_"]) + rnd.choice(WORDS)
    c = rnd.random()
    if c < 0.15:
        w = w.upper()
    elif c < 0.3:
        w = w[:1].upper() + w[1:]
    if rnd.random() < 0.25:
        a, b = rnd.choice(WRAP)
        w = a + w + b
    return w

def join(rnd, words):
    out = rnd.choice(["", "", " ", "\n\t"])
    for i, w in enumerate(words):
        out += (rnd.choice(SEPS) if i else "") + w
    return out + rnd.choice(["", "", " ", "\n"])

def rand_text(rnd):
    r = rnd.random()
    if r < 0.08:  # stop words only, in any case and wrapping
        ws = [rnd.choice(STOPW) for _ in range(rnd.randint(1, 6))]
        ws = [w.upper() if rnd.random() < 0.3 else w for w in ws]
        ws = [("(" + w + "),") if rnd.random() < 0.2 else w for w in ws]
        if rnd.random() < 0.3:
            ws.append(rnd.choice(["--", "...", "!"]))
        return join(rnd, ws)
    if r < 0.16:  # repeats
        base = [word(rnd) for _ in range(rnd.randint(1, 4))]
        return join(rnd, [rnd.choice(base) for _ in range(rnd.randint(2, 40))])
    if r < 0.22:  # more than 512 tokens
        n = rnd.randint(500, 700)
        return join(rnd, [word(rnd) for _ in range(n)])
    if r < 0.28:  # long tokens
        return join(rnd, [long_token(rnd) if rnd.random() < 0.5 else word(rnd)
                          for _ in range(rnd.randint(1, 6))])
    return join(rnd, [word(rnd) for _ in range(rnd.randint(1, 60))])

FIXED = [
    # NUL bytes: never part of a stop word ("a\0" is not "a").
    "fever a\x00", "th\x00 cough", "\x00the rash", "a\x00b of",
    # word order never matters to hash2 (no pairs), even with kinds colliding under hash.
    "ten seven", "seven ten", "other rather weather",
    "The of AND", "the", "THE (of) -- and!", "a", "Hello, world!", "The patient had a fever.",
    "The patients had fevers.", "ten seven", "seven ten", "other rather weather", "cat aat aat cat",
    "x", "x x x x", "'", "a'", "(fever),", "--fever--", "don't", "état ÉTAT", "中文 中文",
    "e\u0301t\u00e9", "ab\u00a0cd ab cd", "tab\tsep\nline\rret\vvt\fff",
    "a" * 99 + "é" + "b" * 60, "a" * 98 + "中" + "b" * 60, "a" * 97 + "😀" + "b" * 60,
    "a" * 100 + "é" + "b" * 60, "(" + "a" * 99 + "é" + "b" * 60 + ")",
    " ".join("w%d" % i for i in range(600)),
    " ".join(["the"] * 511 + ["fever"]), " ".join(["the"] * 512 + ["fever"]),
    " ".join(["--"] * 512 + ["fever", "cough"]),
]

def main():
    seed = int(os.environ.get("VG_SEED", "17"))
    rnd = random.Random(seed)
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(EXT)

    texts = list(FIXED) + [rand_text(rnd) for _ in range(400)]
    nScifact = 0
    qpath = os.path.join(SHARED, "data", "beir-scifact", "queries.jsonl")
    if os.path.exists(qpath):
        with open(qpath, encoding="utf-8") as f:
            for line in f:
                texts.append(json.loads(line)["text"])
                nScifact += 1

    nVec = nAmbig = nAmbig2 = nText = 0
    for text in texts:
        b = text.encode("utf-8")
        gByModel = {}
        for model in ("hash", "hash2"):
            gByModel[model] = groups(features(model, b))
        if not gByModel["hash"]:
            continue  # no words: checked below
        nText += 1
        ambiguousText = False
        for spec in MODELS:
            name, _, d = spec.partition(":")
            dims = int(d) if d else 384
            g = gByModel[name]
            blob = db.execute("SELECT vg_embed(?, ?)", (text, spec)).fetchone()[0]
            got = np.frombuffer(blob, dtype="<f4").astype(np.float64)
            if got.shape != (dims,):
                raise SystemExit("test_embed_hash: %s gave %d dimensions for %r, expected %d"
                                 % (spec, got.size, text[:80], dims))
            want = vector(g, dims)
            diff = float(np.max(np.abs(got - want)))
            if diff > TOL:
                i = int(np.argmax(np.abs(got - want)))
                mixed = [h for h, e in g.items() if len(e[2]) > 1]
                raise SystemExit("test_embed_hash: %s of %r differs from the reference by %.3g at "
                                 "element %d (%r, expected %r); %d features, %d with mixed weights"
                                 % (spec, text[:120], diff, i, got[i], want[i], len(g), len(mixed)))
            nVec += 1
        if any(len(e[2]) > 1 for e in gByModel["hash"].values()):
            nAmbig += 1
        if any(len(e[2]) > 1 for e in gByModel["hash2"].values()):
            nAmbig2 += 1

    # Texts with no words: an error naming the reason, for either model.
    nErr = 0
    for text in ["", " ", "\t\n ", "--", "(!) ... ,,, --", "'\"'", " ?\n! ", "\x0b\x0c\r"]:
        assert not features("hash", text.encode()), text
        for spec in ("hash", "hash2", "hash2:5"):
            try:
                db.execute("SELECT vg_embed(?, ?)", (text, spec)).fetchone()
            except sqlite3.OperationalError as e:
                if "has no words to embed" not in str(e):
                    raise SystemExit("test_embed_hash: vg_embed(%r, %r) failed with %r, expected "
                                     "'has no words to embed'" % (text, spec, str(e)))
                nErr += 1
                continue
            raise SystemExit("test_embed_hash: vg_embed(%r, %r) returned a vector; expected the error "
                             "'has no words to embed'" % (text, spec))

    if nAmbig2:
        raise SystemExit("test_embed_hash: %d texts have hash2 features of different kinds with equal "
                         "hashes; hash2 hashes the kind as a byte of its own" % nAmbig2)
    print("test_embed_hash: %d vectors (%d texts%s x %d models) equal to the reference, %d with "
          "hash features of different kinds colliding (none under hash2); %d no-word errors (seed %d)"
          % (nVec, nText, ", %d of them SciFact queries" % nScifact if nScifact else "", len(MODELS),
             nAmbig, nErr, seed))
    return 0

if __name__ == "__main__":
    sys.exit(main())
