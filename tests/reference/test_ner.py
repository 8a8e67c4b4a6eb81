#!/usr/bin/python3
"""test_ner.py — named entities (PERSON, LOCATION, ORGANIZATION) found by
vg_pii_detect with a BERT token-classification model loaded by
vg_model_load, against a reference written here in numpy from the spec:

  * the text's word pieces (vg_tokenize of the whole text, without [CLS] and
    [SEP]) cut into windows of at most W = max_tokens - 2 pieces, a window
    ending before a word's first piece (a "##" piece never begins a window,
    unless one word is longer than W pieces: then it is cut at W);
  * each window run alone as [CLS] + pieces + [SEP] through the encoder
    (bert_folder.encode, float64), a piece's logits = its last hidden state
    times classifier.weight transposed, plus classifier.bias;
  * a word (a first piece and its "##" pieces) labelled by the argmax of its
    first piece's logits, with softmax probability;
  * the labels read as BIO, IO or BIOES (build_entities), the types mapped
    to PERSON, LOCATION, ORGANIZATION (others not reported), an entity's
    span from its first word's start to its last word's end, in characters,
    its score the mean of its words' probabilities.

The models are small random BERTs in the real layout (bert_folder.py), with
the real vocabulary, and classifier heads of three label schemes, with
max_tokens of 12, 16 and 20, so most texts span several windows.  A text
where a word's top two logits are nearly tied (float32 in the C could pick
the other) is left out for that model, and counted; at least 50 texts must
remain per model, the longest (about 100 windows) among them.  Texts with
pattern findings (e-mails, phones, ...) are checked apart: no findings
overlap, every entity is the reference's, and the findings of either kind
that overlap none of the other are all there.

Also: the option "ner" names the model; no model under "ner", no entities;
vg_pii_redact replaces the entities; errors for a model not loaded, an
embedding model used for entities and a token-classification model used
for embeddings.

VG_NER_REFERENCE_ONLY=1 runs only what does not need the entity path in the
extension: the reference's own checks, the folders loading, vg_tokenize on
them, the corpus free of pattern findings, and the reference's statistics.
"""
import json, os, random, shutil, sqlite3, sys, tempfile

EXT = os.environ.get("VG_EXTENSION", "build/vecguard.so")

try:
    import numpy as np
except ImportError:
    if os.environ.get("VG_REQUIRE_NUMPY"):
        raise
    print("test_ner: SKIPPED: numpy is not installed (python3-numpy)")
    sys.exit(0)

from bert_folder import (H, MODEL, expect_error, SBERT_FILES, TOKENIZER_FILES, encode, make_folder,  # noqa: E402
                         random_weights)

if not os.path.exists(os.path.join(MODEL, "vocab.txt")):
    print("test_ner: SKIPPED: %s/vocab.txt is missing (the shared model files sit beside the checkout as "
          "../shared; set VG_SHARED)" % MODEL)
    sys.exit(0)

REFERENCE_ONLY = bool(os.environ.get("VG_NER_REFERENCE_ONLY"))
NER_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
# A word whose top two logits differ by less than this, relative to the
# largest logit's size (at least 1), could be labelled otherwise in float32:
# its text is left out for that model.  The C's float32 logits are within
# about 1e-6 of float64 here (test_bert_forward.py: 1e-7 per element of unit
# vectors), so 1e-3 leaves a wide margin.
TIE = float(os.environ.get("VG_NER_TIE", "1e-3"))
SCORE_TOL = 0.006  # the score is printed with 2 decimals
MIN_TEXTS = 50


def fail(msg):
    raise SystemExit("test_ner: FAILED: " + msg)


# ---- the reference: labels to entities --------------------------------------

TYPE_OF = {"PER": "PERSON", "PERSON": "PERSON", "LOC": "LOCATION", "LOCATION": "LOCATION", "GPE": "LOCATION",
           "ORG": "ORGANIZATION", "ORGANIZATION": "ORGANIZATION"}


def parse_label(label):
    """(prefix, reported type or None).  B-X, I-X, E-X, S-X; a label with
    none of these prefixes is I-label (so "O", "MISC", "PER" are I-O,
    I-MISC, I-PER); X mapped case-insensitively, None when not reported."""
    if len(label) > 2 and label[0] in "BIES" and label[1] == "-":
        prefix, x = label[0], label[2:]
    else:
        prefix, x = "I", label
    return prefix, TYPE_OF.get(x.upper())


def build_entities(words):
    """words: [(label, probability, start, end)] in text order.  Returns
    [(type, start, end, score, number of words, index of the first word)]:
    B-/S- begin an entity;
    I-/E- (and a bare X) continue the one open on the previous word when it
    has the same reported type, else begin one; S-/E- close it after their
    word; an outside word or one of a type not reported (MISC ...) closes it;
    a word of another type closes it and begins its own."""
    out, cur = [], None

    def close():
        nonlocal cur
        if cur is not None:
            typ, s, e, probs, first = cur
            out.append((typ, s, e, sum(probs) / len(probs), len(probs), first))
            cur = None

    for i, (label, p, s, e) in enumerate(words):
        prefix, typ = parse_label(label)
        if typ is None:
            close()
            continue
        if prefix in "IE" and cur is not None and cur[0] == typ:
            cur[2] = e
            cur[3].append(p)
        else:
            close()
            cur = [typ, s, e, [p], i]
        if prefix in "SE":
            close()
    close()
    return out


def cut_windows(cont, W):
    """Windows [s, e) over pieces whose continuation flags ("##") are cont:
    at most W pieces; a window ends before a piece that begins a word (the
    largest e <= s + W with cont[e] false), unless no such e > s exists (one
    word longer than W pieces): then it ends at s + W."""
    n, s, out = len(cont), 0, []
    while s < n:
        e = min(s + W, n)
        if e < n and cont[e]:
            b = e
            while b > s and cont[b]:
                b -= 1
            e = b if b > s else s + W
        out.append((s, e))
        s = e
    return out


def group_words(cont):
    """[(first piece, last piece)] of each word: a first piece (not "##")
    and the "##" pieces after it.  Pieces before any first piece (none in
    practice: the tokenizer's first piece of a text begins a word) make no
    word."""
    words = []
    for i, c in enumerate(cont):
        if not c:
            words.append([i, i])
        elif words:
            words[-1][1] = i
    return [tuple(w) for w in words]


def self_check():
    """The reference's pieces on hand-made cases with hand-computed
    answers."""
    def ents(labels, probs=None):
        # word i spans bytes [10 i, 10 i + 4)
        probs = probs or [0.5] * len(labels)
        return [(t, s, e, round(sc, 9), n)
                for t, s, e, sc, n, _ in build_entities([(l, p, 10 * i, 10 * i + 4)
                                                      for i, (l, p) in enumerate(zip(labels, probs))])]
    P, L, G = "PERSON", "LOCATION", "ORGANIZATION"
    cases = [
        # BIO
        (["B-PER", "I-PER", "O", "I-LOC", "B-LOC"], [(P, 0, 14, .5, 2), (L, 30, 34, .5, 1), (L, 40, 44, .5, 1)]),
        (["B-PER", "I-LOC", "I-LOC", "B-ORG", "I-ORG", "I-ORG"], [(P, 0, 4, .5, 1), (L, 10, 24, .5, 2),
                                                                 (G, 30, 54, .5, 3)]),
        (["B-PER", "B-PER", "I-PER"], [(P, 0, 4, .5, 1), (P, 10, 24, .5, 2)]),
        (["I-PER", "I-PER", "O", "O"], [(P, 0, 14, .5, 2)]),
        (["O", "O", "O"], []),
        ([], []),
        # MISC (a type not reported) closes the entity and opens none
        (["B-PER", "B-MISC", "I-PER"], [(P, 0, 4, .5, 1), (P, 20, 24, .5, 1)]),
        (["B-PER", "I-MISC", "I-PER", "I-PER"], [(P, 0, 4, .5, 1), (P, 20, 34, .5, 2)]),
        (["B-MISC", "I-MISC"], []),
        # IO: a bare type is I-type
        (["PER", "PER", "LOC", "O", "ORG", "ORG", "MISC", "ORG"], [(P, 0, 14, .5, 2), (L, 20, 24, .5, 1),
                                                                  (G, 40, 54, .5, 2), (G, 70, 74, .5, 1)]),
        # BIOES: S- and E- close after their word
        (["S-PER", "I-PER"], [(P, 0, 4, .5, 1), (P, 10, 14, .5, 1)]),
        (["B-LOC", "E-LOC", "E-LOC"], [(L, 0, 14, .5, 2), (L, 20, 24, .5, 1)]),
        (["B-ORG", "I-ORG", "E-ORG", "I-ORG", "S-ORG", "S-ORG"],
         [(G, 0, 24, .5, 3), (G, 30, 34, .5, 1), (G, 40, 44, .5, 1), (G, 50, 54, .5, 1)]),
        (["E-PER", "E-PER", "B-PER", "S-PER"], [(P, 0, 4, .5, 1), (P, 10, 14, .5, 1), (P, 20, 24, .5, 1),
                                                (P, 30, 34, .5, 1)]),
        (["B-PER", "S-LOC", "I-PER"], [(P, 0, 4, .5, 1), (L, 10, 14, .5, 1), (P, 20, 24, .5, 1)]),
        # type names: case-insensitive, and their synonyms
        (["B-Person", "I-Person", "S-gpe", "B-Org", "E-Org", "B-location", "I-location", "B-ORGANIZATION"],
         [(P, 0, 14, .5, 2), (L, 20, 24, .5, 1), (G, 30, 44, .5, 2), (L, 50, 64, .5, 2), (G, 70, 74, .5, 1)]),
        # not a label of a reported type
        (["B-DATE", "X-PER", "b-PER", "B-", "-PER", "PERSONS"], []),
    ]
    for labels, want in cases:
        got = ents(labels)
        if got != [(t, s, e, round(sc, 9), n) for t, s, e, sc, n in want]:
            fail("self-check: entities of %s are %s, expected %s" % (labels, got, want))
    # The score is the mean of the words' probabilities.
    got = ents(["B-PER", "I-PER", "I-PER", "O", "B-LOC"], [0.5, 0.7, 0.9, 0.99, 0.3])
    if got != [(P, 0, 24, 0.7, 3), (L, 40, 44, 0.3, 1)]:
        fail("self-check: scores %s" % got)
    # Windows: flags of "##" pieces.
    wcases = [
        ([0, 0, 1, 0], 2, [(0, 1), (1, 3), (3, 4)]),
        ([0, 1, 1, 1, 0], 2, [(0, 2), (2, 4), (4, 5)]),  # a word of 4 pieces, W = 2
        ([0, 1, 1, 1, 0, 0], 3, [(0, 3), (3, 6)]),
        ([0, 1, 1, 1, 0, 0, 0], 3, [(0, 3), (3, 6), (6, 7)]),
        ([0, 0, 0, 0, 0], 2, [(0, 2), (2, 4), (4, 5)]),
        ([0, 0, 0, 0], 4, [(0, 4)]),
        ([0, 0, 0, 0], 10, [(0, 4)]),
        ([], 3, []),
        ([0, 0, 1, 1, 0, 1], 3, [(0, 1), (1, 4), (4, 6)]),
        ([0, 1, 0, 1, 1, 0, 1, 0], 4, [(0, 2), (2, 5), (5, 8)]),
        ([0, 1, 1, 1, 1, 1, 1], 3, [(0, 3), (3, 6), (6, 7)]),
        ([0, 0, 1, 1, 1, 1, 1, 0], 3, [(0, 1), (1, 4), (4, 7), (7, 8)]),
    ]
    for cont, W, want in wcases:
        got = cut_windows(cont, W)
        if got != want:
            fail("self-check: windows of %s, W=%d: %s, expected %s" % (cont, W, got, want))
    if group_words([0, 1, 1, 0, 0, 1]) != [(0, 2), (3, 3), (4, 5)] or group_words([]) != []:
        fail("self-check: words")


# ---- models -----------------------------------------------------------------

# CoNLL-2003 labels in dslim/bert-base-NER's order; IO; BIOES with
# OntoNotes-like names in mixed case (GPE for places, DATE not reported).
BIO = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
IO = ["O", "PER", "LOC", "ORG", "MISC"]
BIOES = ["O"] + ["%s-%s" % (p, t) for t in ("Person", "GPE", "org", "DATE") for p in "BIES"]

# name, labels, folder files, sentence_bert_config.json, max_position_embeddings,
# dtype, the expected max_tokens, the classifier's weight scale and O's bias.
SPECS = [
    ("ner", BIO, SBERT_FILES, {"max_seq_length": 12, "do_lower_case": False}, 512, "F32", 12, 0.6, 2.5),
    ("ner2", IO, TOKENIZER_FILES, {"max_seq_length": 16}, 512, "F32", 16, 0.6, 1.2),
    ("ner3", BIOES, TOKENIZER_FILES, None, 20, "F16", 20, 0.6, 3.5),
]


def piece_states(enc, tokens, W, cls_id, sep_id):
    """A text's pieces (its tokens without [CLS] and [SEP]) cut into
    windows, each run alone as [CLS] + pieces + [SEP]; returns (the windows
    [(s, e)], each piece's last hidden state [n, H])."""
    pieces = tokens[1:-1]
    wins = cut_windows([t["token"].startswith("##") for t in pieces], W)
    states = np.zeros((len(pieces), H))
    if wins:
        x, _ = encode(enc, [[cls_id] + [t["id"] for t in pieces[s:e]] + [sep_id] for s, e in wins])
        for k, (s, e) in enumerate(wins):
            states[s:e] = x[k, 1:1 + e - s]
    return wins, states


def char_offset(b, off):
    """The character offset of byte offset off of the UTF-8 bytes b."""
    try:
        return len(b[:off].decode("utf-8"))
    except UnicodeDecodeError:
        fail("byte offset %d is inside a character of %r" % (off, b.decode("utf-8", "replace")))


def margin(z):
    """The gap between the two largest logits of a row, relative to the
    largest logit's size (at least 1)."""
    top = np.sort(z)[-2:]
    return (top[1] - top[0]) / max(1.0, float(np.abs(z).max()))


class Model:
    """A token-classification model of SPECS, with random weights, written
    as a folder; its windows and pieces' states for each text of the corpus
    (full: the texts' tokens)."""

    def __init__(self, rnd, root, vocab, spec, full, cls_id, sep_id, keep):
        name, labels, files, sbert, maxpos, dtype, max_tokens, scale, o_bias = spec
        self.name, self.labels, self.max_tokens, self.W = name, labels, max_tokens, max_tokens - 2
        w = random_weights(rnd, vocab, prefix="bert.", maxpos=maxpos)
        if dtype == "F16":  # as the file will hold them (make_folder rounds them so too)
            w = {k: v.astype(np.float16).astype(np.float64) for k, v in w.items()}
        self.enc = {k[len("bert."):]: v for k, v in w.items()}
        self.wins, self.states = zip(*[piece_states(self.enc, toks, self.W, cls_id, sep_id) for toks in full])
        # The classifier reads the states standardized over the corpus:
        # random weights on the raw states would give most words the label
        # their mean state favours.  It is drawn again until no word of the
        # texts `keep` has a near tie (a long text, else likely left out).
        x = np.concatenate(self.states)
        mu, sd = x.mean(0), x.std(0) + 1e-3
        first = [[j for j, t in enumerate(toks[1:-1]) if not t["token"].startswith("##")] for toks in full]
        for _ in range(100):
            a = rnd.standard_normal((len(labels), H)) * scale / sd
            bias = -a @ mu + rnd.standard_normal(len(labels)) * 0.3
            bias[labels.index("O")] += o_bias
            if dtype == "F16":
                a, bias = (v.astype(np.float16).astype(np.float64) for v in (a, bias))
            if all(margin(z) >= TIE for i in keep for z in self.states[i][first[i]] @ a.T + bias):
                break
        else:
            fail("%s: no classifier of 100 drawn has no near tie in the longest text (try another VG_SEED)" % name)
        w["classifier.weight"], w["classifier.bias"] = a, bias
        # id2label written in another order than the ids: the ids count.
        id2label = {str(i): labels[i] for i in reversed(range(len(labels)))}
        self.folder, w = make_folder(root, name, w, dtype, files=files, sbert_config=sbert, extra_config={
            "architectures": ["BertForTokenClassification"], "id2label": id2label,
            "label2id": {l: i for i, l in enumerate(labels)}, "max_position_embeddings": maxpos})
        assert all((w["bert." + k] == v).all() for k, v in self.enc.items())
        self.clsW, self.clsB = w["classifier.weight"], w["classifier.bias"]

    def reference(self, i, text, tokens):
        """(the entities of text i as vg_pii_detect reports them, the
        smallest margin of a word's label, what the text exercises)."""
        pieces = tokens[1:-1]
        cont = [t["token"].startswith("##") for t in pieces]
        wins, states, n = self.wins[i], self.states[i], len(pieces)
        logits = states @ self.clsW.T + self.clsB
        window_of = [k for k, (s, e) in enumerate(wins) for _ in range(s, e)]
        st = dict(texts=1, windows=len(wins), max_windows=len(wins), multi_window_texts=int(len(wins) > 1),
                  shortened=sum(e < n and e - s < self.W for s, e in wins),
                  cut_in_word=sum(e < n and cont[e] for s, e in wins), words=0, outside=0, unreported=0,
                  entities=0, multi_word=0, across_windows=0, begun_by_i=0, closed_then_same=0,
                  **{t: 0 for t in NER_TYPES})
        labelled, worst = [], float("inf")
        for f, l in group_words(cont):
            z = logits[f]
            worst = min(worst, margin(z))
            lab = int(np.argmax(z))  # the lowest id on a tie
            p = np.exp(z - z.max())
            p /= p.sum()
            labelled.append((self.labels[lab], float(p[lab]), pieces[f]["start"], pieces[l]["end"], f))
            st["words"] += 1
            st["outside"] += self.labels[lab] == "O"
            st["unreported"] += self.labels[lab] != "O" and parse_label(self.labels[lab])[1] is None
        ents = build_entities([(lab, p, s, e) for lab, p, s, e, _ in labelled])
        parsed = [parse_label(x[0]) for x in labelled]
        st["closed_then_same"] = sum(bool(a[0] in "SE" and a[1] and b[0] in "IE" and a[1] == b[1])
                                     for a, b in zip(parsed, parsed[1:]))
        b = text.encode("utf-8")
        findings = []
        for typ, s, e, score, nw, k in ents:
            st["entities"] += 1
            st["multi_word"] += nw > 1
            st["begun_by_i"] += parsed[k][0] in "IE"
            # the windows of the entity's words' first pieces
            st["across_windows"] += len({window_of[labelled[j][4]] for j in range(k, k + nw)}) > 1
            st[typ] += 1
            cs, ce = char_offset(b, s), char_offset(b, e)
            findings.append({"type": typ, "start": cs, "end": ce, "text": text[cs:ce], "score": score})
        return findings, worst, st


# ---- the corpus -------------------------------------------------------------

HAND = [
    "Ana María Pérez moved from Córdoba to Buenos Aires to work for Banco Nación.",
    "Barack Obama met Angela Merkel in Berlin.",
    "John Smith works at Google in Mountain View, California.",
    "Dr. Siobhán O'Connor of Trinity College Dublin spoke with Søren Kierkegaard's biographer in Copenhagen.",
    "Médecins Sans Frontières opened a clinic in Port-au-Prince; Zoë Dupont leads it.",
    "François, Björk, Łukasz and Ngozi flew Lufthansa from Kraków to Reykjavík via Frankfurt am Main.",
    "Hauptstraße in Zürich, rue de Rivoli in Paris, and Avenida Paulista in São Paulo.",
    "El señor José Martínez Núñez, de la Universidad de Buenos Aires, visitó Montréal y Québec.",
    "田中太郎さんは東京の株式会社ソニーで働いています。",
    "王伟和李娜在北京大学学习中文。",
    "Kim Ji-woo lives in 서울 and works for 삼성전자.",
    "대한민국의수도는서울특별시입니다",
    "Ana😀Paris and Lima🚀Peru, Tokyo ✈ Osaka.",
    "tabs\tbetween\tnames: Maria\tJoão\nnewline London\r\nManchester United",
    "Zero\u200bwidth joiners: Ana\u200dMaria and Jose\u0301 Garci\u0301a in Medelli\u0301n.",
    "«Ricardo» and „Grete“ quoted ‘Isabel’ from “Sevilla”.",
    "Microsoft, Apple, Amazon, Alphabet, Meta, Nvidia, Tesla, Samsung, Toyota and Nestlé.",
    "pneumonoultramicroscopicsilicovolcanoconiosis was diagnosed by xqzvkjwpqlmnbvcxzrtypwqx in Oslo.",
    "Supercalifragilisticexpialidocious Antidisestablishmentarianism Honorificabilitudinitatibus.",
    "O'Neill-Smith and McDonald's hired Jean-Luc Picard at St. Mary's Hospital.",
    "The United Nations, the World Health Organization and the European Central Bank met at The Hague.",
    "Paris",
    "Maria!",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    ". , ; : ! ? ( ) [ ] { } - — … ¿ ¡",
    "Mr. and Mrs. Dursley, of Privet Drive, were proud to say that they were perfectly normal, thank you very "
    "much. They were the last people you'd expect to be involved in anything strange or mysterious.",
    "Привет, меня зовут Иван Петров, я живу в Москве и работаю в Газпроме.",
    "Γιώργος Παπαδόπουλος από την Αθήνα.",
    "محمد علي من القاهرة يعمل في جامعة الأزهر",
    "Wolfgang Amadeus Mozart was born in Salzburg and died in Vienna; Ludwig van Beethoven was born in Bonn.",
]

FIRST = ["Ana", "María", "José", "Zoë", "Björk", "François", "Søren", "Łukasz", "Ngozi", "Siobhán", "Emily",
         "Mohammed", "Wei", "Yuki", "Olusegun", "Ingrid", "Pablo", "Chidi", "Anneliese", "Dmitri"]
LAST = ["Pérez", "García", "Okafor", "Müller", "Nakamura", "Kowalski", "O'Brien", "Dubois", "Rossi",
        "Fernández", "Johansson", "Nguyen", "Schmidt", "Ivanova", "Achebe"]
PLACES = ["Buenos Aires", "Zürich", "São Paulo", "Kraków", "Reykjavík", "Montréal", "Córdoba", "Lagos", "Osaka",
          "New York", "Mar del Plata", "Rio de Janeiro", "Cape Town", "Kyiv", "Edinburgh", "東京", "北京"]
ORGS = ["Banco Nación", "Siemens", "Médecins Sans Frontières", "the Red Cross", "Universidad de Chile",
        "Acme Corporation", "Deutsche Bahn", "the Bank of England", "Petrobras", "Mercado Libre", "Airbus"]
FILLER = ("the patient reported a mild fever and a dry cough after travelling with her family for work and "
          "was advised to rest drink fluids and return if symptoms persisted meanwhile the committee approved "
          "new guidelines for visiting hours while nurses prepared the ward quietly").split()
TEMPLATES = ["{p} visited {l}.", "{p} works for {o} in {l}.", "Yesterday {p} and {p} met at {o}.",
             "{o} announced that {p} will lead its office in {l}.", "According to {p}, {l} is lovely in spring.",
             "From {l}, {p} wrote to {o}:", "{p}'s sister moved to {l}"]


def generated(rnd, nSentence):
    """A text of sentences from TEMPLATES with filler words between."""
    out = []
    for _ in range(nSentence):
        def person():
            return rnd.choice(FIRST) + ("" if rnd.random() < 0.3 else " " + rnd.choice(LAST))
        s = rnd.choice(TEMPLATES)
        while "{" in s:
            s = s.replace("{p}", person(), 1).replace("{l}", rnd.choice(PLACES), 1)
            s = s.replace("{o}", rnd.choice(ORGS), 1)
        filler = " ".join(rnd.choice(FILLER) for _ in range(rnd.randrange(0, 12)))
        out.append((s + " " + filler).strip())
        if rnd.random() < 0.3:
            out[-1] = out[-1].capitalize() + "."
    return " ".join(out)


def corpus():
    out = [json.loads(l)["text"] for l in open(os.path.join(MODEL, "reference_tokenization.jsonl"))]
    out += HAND
    rnd = random.Random(2024)  # the corpus does not change with VG_SEED
    out += [generated(rnd, n) for n in (1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40)]
    out.append(generated(rnd, 60))  # about 1,000 pieces: about 100 windows
    # Entities of several texts in one, and mixed with pattern findings
    # (checked apart).
    out += ["Write to ana.perez@example.com: Ana Pérez in Córdoba answers; or call +54 9 11 4567-8901, "
            "John Smith's phone, from London.",
            "Card 4111 1111 1111 1111 belongs to Maria Rossi of Banco Nación; see https://example.org/Maria.",
            "IBAN GB82 WEST 1234 5698 7654 32 of Siemens AG in Munich, manager Ingrid Johansson."]
    return out


# ---- the test ---------------------------------------------------------------

def connect():
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(EXT)
    return db


def one(db, sql, *args):
    return db.execute(sql, args).fetchone()[0]


def ner_findings(db, text, options=None):
    got = json.loads(one(db, "SELECT vg_pii_detect(?, ?)", text, options) if options else
                     one(db, "SELECT vg_pii_detect(?)", text))
    return [f for f in got if f["type"] in NER_TYPES], got


def same(got, want):
    return (len(got) == len(want) and
            all(g["type"] == w["type"] and g["start"] == w["start"] and g["end"] == w["end"] and
                g["text"] == w["text"] and abs(g["score"] - w["score"]) <= SCORE_TOL for g, w in zip(got, want)))


def show(findings):
    return ", ".join("%s %d-%d %r %.4f" % (f["type"], f["start"], f["end"], f["text"], f["score"])
                     for f in findings) or "none"


def overlaps(a, b):
    return a["start"] < b["end"] and b["start"] < a["end"]


def main():
    self_check()
    rnd = np.random.default_rng(int(os.environ.get("VG_SEED", "17")))
    vocab = sum(1 for _ in open(os.path.join(MODEL, "vocab.txt")))
    texts = corpus()
    root = tempfile.mkdtemp(prefix="vg_ner_")
    try:
        # The pattern findings of each text, and no entities, on a
        # connection with no model.
        fresh = connect()
        patterns = [json.loads(one(fresh, "SELECT vg_pii_detect(?)", t)) for t in texts]
        for t, p in zip(texts, patterns):
            if any(f["type"] in NER_TYPES for f in p):
                fail("with no model loaded as 'ner', vg_pii_detect(%r) finds %s" % (t[:60], p))
        clean = [i for i, p in enumerate(patterns) if not p]
        mixed = [i for i, p in enumerate(patterns) if p]
        # The full tokenization of every text, from a model with the same
        # tokenizer files that cuts nothing (the corpus stays under its
        # 8,192 tokens); a model under another name than 'ner' finds no
        # entities either.
        tokfolder, _ = make_folder(root, "tok", random_weights(rnd, vocab, maxpos=8192), files=TOKENIZER_FILES,
                                   sbert_config={"max_seq_length": 8192},
                                   extra_config={"max_position_embeddings": 8192})
        plain = connect()
        one(plain, "SELECT vg_model_load('tok', ?)", tokfolder)
        full = [json.loads(one(plain, "SELECT vg_tokenize(?, 'tok')", t)) for t in texts]
        if max(len(t) for t in full) >= 8192:
            fail("a text has %d tokens: the reference tokenization may be cut" % max(len(t) for t in full))
        cls_id, sep_id = full[0][0]["id"], full[0][-1]["id"]
        for t, toks, p in zip(texts, full, patterns):
            if toks[0]["token"] != "[CLS]" or toks[-1]["token"] != "[SEP]" or \
                    any(x["token"] in ("[CLS]", "[SEP]") for x in toks[1:-1]):
                fail("tokens of %r: %s" % (t[:40], [x["token"] for x in toks]))
            if json.loads(one(plain, "SELECT vg_pii_detect(?)", t)) != p:
                fail("with a model loaded as 'tok' (and none as 'ner'), vg_pii_detect(%r) changes" % t[:60])
        longest = max(clean, key=lambda i: len(full[i]))

        # The models: loaded, described, tokenizing as the tokenizer does,
        # cut at max_tokens.
        db = connect()
        models = [Model(rnd, root, vocab, spec, full, cls_id, sep_id, [longest]) for spec in SPECS]
        for m in models:
            desc = json.loads(one(db, "SELECT vg_model_load(?, ?)", m.name, m.folder))
            if not REFERENCE_ONLY and (desc.get("kind") != "ner" or desc.get("labels") != m.labels):
                fail("vg_model_load of a token-classification folder describes it as %s; expected \"kind\": "
                     "\"ner\" and \"labels\": %s" % (json.dumps(desc), json.dumps(m.labels)))
            if "max_tokens" in desc and desc["max_tokens"] != m.max_tokens:
                fail("%s: max_tokens %s, expected %d" % (m.name, desc["max_tokens"], m.max_tokens))
            for t, toks in zip(texts, full):
                got = json.loads(one(db, "SELECT vg_tokenize(?, ?)", t, m.name))
                n = m.max_tokens
                if got[:-1] != toks[:min(len(toks), n) - 1] or got[-1]["token"] != "[SEP]" or len(got) != min(
                        len(toks), n):
                    fail("vg_tokenize(%r, '%s') is not the tokenization cut at %d tokens" % (t[:40], m.name, n))

        # The reference; the texts left out for near ties; what the compared
        # texts exercise.
        ref = {(m.name, i): m.reference(i, texts[i], full[i]) for m in models for i in range(len(texts))}
        compared = {m.name: [i for i in clean if ref[m.name, i][1] >= TIE] for m in models}
        total = {}
        for m in models:
            st = {}
            for i in compared[m.name]:
                for k, v in ref[m.name, i][2].items():
                    st[k] = max(st.get(k, 0), v) if k == "max_windows" else st.get(k, 0) + v
            print("test_ner: %s (W=%d): %d of %d texts without pattern findings, %d left out for a near tie; %d "
                  "windows (%d texts of several, one of %d), %d ended before a word, %d cut inside a word longer "
                  "than W; %d words (%d O, %d of types not reported); %d entities (%d PERSON, %d LOCATION, %d "
                  "ORGANIZATION), %d of several words, %d across windows, %d begun by I- or E-, %d S-/E- closing "
                  "before the same type" % (
                      m.name, m.W, len(compared[m.name]), len(clean), len(clean) - len(compared[m.name]),
                      st["windows"], st["multi_window_texts"], st["max_windows"], st["shortened"], st["cut_in_word"],
                      st["words"], st["outside"], st["unreported"], st["entities"], st["PERSON"], st["LOCATION"],
                      st["ORGANIZATION"], st["multi_word"], st["across_windows"], st["begun_by_i"],
                      st["closed_then_same"]))
            need = dict(texts=st["texts"] >= MIN_TEXTS, longest=longest in compared[m.name],
                        many_windows=st["max_windows"] >= 50, outside=st["outside"] > st["words"] // 10,
                        unreported=st["unreported"] > 0, types=min(st[t] for t in NER_TYPES) >= 10,
                        multi_word=st["multi_word"] >= 10, begun_by_i=st["begun_by_i"] > 0,
                        closed_then_same=st["closed_then_same"] > 0 or not any(l[:2] == "S-" for l in m.labels))
            if not all(need.values()):
                fail("%s: the texts compared do not exercise %s (try another VG_SEED)"
                     % (m.name, [k for k, v in need.items() if not v]))
            for k in ("shortened", "cut_in_word", "across_windows"):
                total[k] = total.get(k, 0) + st[k]
        if not all(total.values()):
            fail("the texts compared do not exercise %s (try another VG_SEED)" % [k for k, v in total.items() if not v])
        if REFERENCE_ONLY:
            print("test_ner: REFERENCE ONLY: self-checks passed, %d folders load, vg_tokenize cuts as expected, the "
                  "reference is ready for %d texts (%d free of pattern findings); vg_pii_detect's entities were not "
                  "compared" % (len(models), len(texts), len(clean)))
            return

        # vg_pii_detect: the default model 'ner', and the others named by
        # the option.
        nEnt, worstScore, nMixed = 0, 0.0, 0
        for m in models:
            opts = None if m.name == "ner" else json.dumps({"ner": m.name})
            for i in compared[m.name]:
                want = ref[m.name, i][0]
                got, _ = ner_findings(db, texts[i], opts)
                if not same(got, want):
                    fail("%s: vg_pii_detect(%r%s)\n  gives    %s\n  expected %s"
                         % (m.name, texts[i][:80], ", '" + opts + "'" if opts else "", show(got), show(want)))
                worstScore = max([worstScore] + [abs(g["score"] - w["score"]) for g, w in zip(got, want)])
                nEnt += len(want)
            # Texts with pattern findings: no findings overlap; each entity
            # is the reference's; an entity that overlaps no pattern
            # finding, and a pattern finding that overlaps no entity, are
            # reported as they are; a pattern finding that is not, only
            # where an entity overlaps a pattern finding (the entity can
            # win over the whole number, and a shorter match of it be
            # reported).  No pattern finding of these texts hides one of
            # another type (vg_pii_detect with "types" of any one type finds
            # no more).
            for i in mixed:
                want, worst, _ = ref[m.name, i]
                if worst < TIE:
                    continue
                got_ner, got = ner_findings(db, texts[i], opts)
                pat = patterns[i]
                contested = [p for p in pat if any(overlaps(f, p) for f in want)]
                where = "%s: vg_pii_detect(%r%s) gives %s" % (m.name, texts[i][:80], ", '" + opts + "'" if opts else
                                                              "", show(got))
                for f in want:
                    if not any(overlaps(f, p) for p in pat) and not any(same([g], [f]) for g in got_ner):
                        fail("%s, without %s" % (where, show([f])))
                for p in pat:
                    if p not in contested and p not in got:
                        fail("%s, without %s" % (where, show([p])))
                for g in got:
                    if g["type"] in NER_TYPES and not any(same([g], [f]) for f in want):
                        fail("%s: %s is not an entity of the reference" % (where, show([g])))
                    if g["type"] not in NER_TYPES and g not in pat and not any(overlaps(g, p) for p in contested):
                        fail("%s: %s is new, and where no entity overlaps a pattern finding" % (where, show([g])))
                    if sum(overlaps(g, h) for h in got) > 1:
                        fail("%s: findings overlap" % where)
                nMixed += 1

        # vg_pii_redact replaces each entity with <TYPE> (its default
        # operator), every other character kept.
        nRedacted = 0  # texts with entities
        for i in compared["ner"]:
            t, want = texts[i], ref["ner", i][0]
            exp = t
            for f in reversed(want):
                exp = exp[:f["start"]] + "<%s>" % f["type"] + exp[f["end"]:]
            got = one(db, "SELECT vg_pii_redact(?)", t)
            if got != exp:
                fail("vg_pii_redact(%r) is %r, expected %r" % (t[:80], got, exp))
            nRedacted += bool(want)

        # Loading another folder under 'ner' replaces the default model.
        one(db, "SELECT vg_model_load('ner', ?)", models[2].folder)
        for i in compared[models[2].name][:20]:
            if not same(ner_findings(db, texts[i])[0], ref[models[2].name, i][0]):
                fail("after 'ner' was loaded again from %s's folder, vg_pii_detect(%r) is not %s's"
                     % (models[2].name, texts[i][:60], models[2].name))

        # Errors: a model not loaded; a token-classification model embeds
        # nothing; an embedding model finds no entities, as 'ner' or named.
        expect_error(db, "SELECT vg_pii_detect(?, ?)", ("Ana lives in Paris", '{"ner": "nope"}'), "vg_model_load")
        expect_error(db, "SELECT vg_embed(?, 'ner')", ("Ana lives in Paris",), "token-classification")
        emb, _ = make_folder(root, "embedding", random_weights(rnd, vocab))
        other = connect()
        one(other, "SELECT vg_model_load('ner', ?)", emb)
        expect_error(other, "SELECT vg_pii_detect(?)", ("Ana lives in Paris",), "token-classification")
        one(db, "SELECT vg_model_load('emb', ?)", emb)
        expect_error(db, "SELECT vg_pii_detect(?, ?)", ("Ana lives in Paris", '{"ner": "emb"}'),
                     "token-classification")
        if len(one(db, "SELECT vg_embed('Ana lives in Paris', 'emb')")) != 4 * H:
            fail("vg_embed with the embedding model beside the token-classification ones")

        print("test_ner: %d texts (%s; %d entities) agree with the numpy reference, scores within %.4f; "
              "vg_pii_redact right on %d texts (%d with entities); %d of %d texts with pattern findings "
              "consistent over the 3 models (the rest with near ties); no entities without a model; errors named" % (
                  sum(len(c) for c in compared.values()),
                  ", ".join("%s %d" % (m.name, len(compared[m.name])) for m in models), nEnt, worstScore,
                  len(compared["ner"]), nRedacted, nMixed, 3 * len(mixed)))
    finally:
        shutil.rmtree(root)


main()
