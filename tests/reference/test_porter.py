#!/usr/bin/python3
"""test_porter.py — the stemmer of vecguard's full-text index against
Snowball's implementation of the same algorithm (python3-snowballstemmer,
algorithm "porter": Porter's original 1980 algorithm), word for word.

Words: a dictionary (wamerican's /usr/share/dict/american-english), the
words of docs/*.md and, when ../shared is there, of the SciFact corpus.
vg_fulltext_terms(word) must give exactly [stem] for every word of three or
more ASCII letters that is not a stop word, with one known difference:
step 1b of the paper undoes any double consonant but l, s and z left by
removing -ed or -ing ("trekked" -> "trek"), as Porter's own C version does;
Snowball's undoes only bb, dd, ff, gg, mm, nn, pp, rr and tt ("trekk").
"""
import glob, json, os, re, sqlite3, sys

import snowballstemmer

EXT = os.environ.get("VG_EXTENSION", "build/vecguard.so")
SHARED = os.environ.get("VG_SHARED", "../shared")
DICT = "/usr/share/dict/american-english"

def main():
    words = set()
    with open(DICT, encoding="utf-8") as f:
        words.update(w.strip().lower() for w in f)
    for path in glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "*.md")):
        with open(path, encoding="utf-8") as f:
            words.update(re.findall(r"[a-z]+", f.read().lower()))
    corpus = os.path.join(SHARED, "data", "beir-scifact", "corpus.jsonl")
    nScifact = 0
    if os.path.exists(corpus):
        with open(corpus, encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                found = re.findall(r"[a-z]+", (d["title"] + " " + d["text"]).lower())
                words.update(found)
        nScifact = 1
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(EXT)
    stop = {"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
            "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
            "these", "they", "this", "to", "was", "will", "with"}
    porter = snowballstemmer.stemmer("porter")
    words = sorted(w for w in words if re.fullmatch(r"[a-z]{3,64}", w) and w not in stop)
    bad = []
    for w in words:
        got = json.loads(db.execute("SELECT vg_fulltext_terms(?)", (w,)).fetchone()[0])
        want = [porter.stemWord(w)]
        sb = want[0]
        if (len(sb) >= 2 and sb[-1] == sb[-2] and sb[-1] in "cjkqvwxy" and got == [sb[:-1]]
                and re.search(r"(ed|ing)$", w)):
            continue  # the known difference (above)
        if got != want:
            bad.append((w, got, want))
    # Stop words give no term at all.
    for w in stop:
        got = json.loads(db.execute("SELECT vg_fulltext_terms(?)", (w.upper(),)).fetchone()[0])
        if got != []:
            bad.append((w.upper(), got, []))
    print("test_porter: %d words (dictionary, docs%s), %d differ from Snowball's porter"
          % (len(words), ", SciFact" if nScifact else "", len(bad)))
    for w, got, want in bad[:20]:
        print("  %s: vecguard %s, snowball %s" % (w, got, want))
    return 1 if bad or len(words) < 50000 else 0

if __name__ == "__main__":
    sys.exit(main())
