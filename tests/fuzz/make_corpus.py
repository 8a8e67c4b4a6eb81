#!/usr/bin/env python3
"""make_corpus.py - write the seed corpora of the fuzz targets into
tests/fuzz/corpus/<name>/ (run from anywhere; it replaces those folders).

Each seed is a small file in the target's input format (see the header
comment of tests/fuzz/fuzz_<name>.c).  They are written here, not collected,
so that the format and the seeds change together."""
import os
import random
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(name, seeds):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i, s in enumerate(seeds):
        if isinstance(s, str):
            s = s.encode("utf-8")
        with open(os.path.join(d, "seed-%03d" % i), "wb") as f:
            f.write(s)


def f32(*xs):
    return b"".join(struct.pack("<f", x) for x in xs)


def vector_seeds():
    json = ["[1, -2.5]", "[0.1, 2, -3e-2]", " [ 1e-45 , 3.4028235e38 ]\n", "[-0]",
            "[]", "[1, oops]", "[1e40]", "[1.]", "[01]", "[1,]", "[1] x", "[NaN]",
            "[" + ",".join(str(i) for i in range(40)) + "]",
            "[16777217]", "[-1.5E+3,2e-310]"]
    seeds = []
    for j in json:
        seeds.append(b"\x00" + j.encode())
        seeds.append(b"\x01" + j.encode())
    seeds.append(b"\x01[1, 2]\x00, 3]")
    blobs = [f32(1.0, -2.5), f32(0.0), b"\x00\x00\x80\x3f\x00", b"\x00\x00\xc0\x7f",
             b"\x00\x00\x80\x7f", b"", f32(*range(16))]
    for b in blobs:
        seeds.append(b"\x02" + b)
    for j in ["[1, -2.5]", "[0, 0]", "[3, 4]"]:
        seeds.append(b"\x03\x00" + j.encode())
    seeds.append(b"\x03\x01" + f32(3.0, 4.0))
    seeds.append(b"\x03\x02" + b"xyz")
    # The element bound of 1e16 (the float nearest 1e16 is allowed) and a
    # number that rounds differently through a double.
    for j in ["[1e16, -1e16]", "[1e17]", "[1, -2.5e16]", "[10000000272564224]",
              "[1.00000005960464477539062500001]"]:
        seeds.append(b"\x00" + j.encode())
    seeds.append(b"\x02" + f32(1.0, -1e17))
    seeds.append(b"\x03\x00[1e20]")
    seeds.append(b"\x03\x01" + f32(1e16, -1e16))
    return seeds


DOC_TABLE = """CREATE VIRTUAL TABLE docs USING vg_hnsw(
  embedding float[4] distance_metric=cosine,  -- the vector column
  tenant_id text partition key,               -- optional: one partition per tenant
  content_type text,                          -- metadata: stored and filterable
  created_at integer,                         -- metadata
  +body text                                  -- auxiliary: stored and returned only
)"""


def tabledef_seeds():
    args = [
        "embedding float[384] distance_metric=cosine, tenant_id text partition key, content_type text, +body text",
        "v float[4], hnsw_m=8, ef_construction=100, ef_search=40, quantization=int8",
        "\"odd name\" boolean, [br] int, `bq` float, v f32[3], +raw, 'q''t' real",
        "  V  FLOAT[ 3 ]  DISTANCE_METRIC = 'IP' ",
        "embedding float[4] distance_metric=dot",
        "embedding int8[4]",
        "embedding int8[384] distance_metric=l1, tenant text partition key, doc_id text primary key",
        "e i8[3] distance_metric=ip, quantization=int8",
        "e bit[1024], +note",
        "e bit[12]",
        "e BIT[16] distance_metric=hamming, chunk_size=64",
        "e bit[16] distance_metric=cosine",
        "e float[4] distance_metric=l1",
        "embedding float[4], notes varchar",
        "embedding float[4], chunk_size=8",
        "embedding float[4], tag",
        "e float[4], t integer partition key, \"a,b\" text, \"c)d\" real",
        "e float[16384], +x any, +y blob",
        "e float[0]",
        "e float[4], rowid text",
    ]
    seeds = []
    for a in args:
        stmt = "CREATE VIRTUAL TABLE t USING vg_hnsw(" + a + ")"
        seeds.append(b"\x00" + stmt.encode())
        seeds.append(b"\x01" + ("t USING vg_hnsw(" + a + ")").encode())
        seeds.append(b"\x02" + "\x00".join(x.strip() for x in a.split(",")).encode())
    seeds.append(b"\x00" + DOC_TABLE.encode())
    for tail in ["IF NOT EXISTS temp.\"x y\" using VG_HNSW (e float[2])",
                 "t USING fts5(a, b)",
                 "t USING rtree(id, x0, x1)"]:
        seeds.append(b"\x01" + tail.encode())
    seeds.append(b"\x00CREATE TABLE vg_hnsw(a)")
    seeds.append(b"\x00create virtual table t using\n\tvg_hnsw\n(e float[2])")
    # Statements SQLite reads its own way: comments, a quoted module name,
    # empty arguments, another module without arguments, '$' inside a name.
    for tail in [DOC_TABLE[len("CREATE VIRTUAL TABLE "):],
                 "t$ USING vg_hnsw(e$ float[4])",
                 "t USING \"vg_hnsw\"(e float[2], /* c, d */ x text -- e\n)",
                 "t USING vg_hnsw(, e float[2], , x text,)",
                 "t USING fts4"]:
        seeds.append(b"\x01" + tail.encode())
    return seeds


def random_seeds(seed, count, lo, hi):
    """Byte strings for the targets whose input is a program of choices:
    every byte string is a valid program, so random ones make fair seeds."""
    rng = random.Random(seed)
    return [bytes(rng.randrange(256) for _ in range(rng.randrange(lo, hi))) for _ in range(count)]


def knn_seeds():
    seeds = random_seeds(1, 24, 8, 64)
    # Four queries on v, k = 3, exact = 1, tenant = 'b' AND tenant != 'A'
    # COLLATE NOCASE AND cat IS NOT 'X' COLLATE NOCASE: the documented case
    # where SQLite re-checks rows the search kept under BINARY (one query
    # gives 2 rows, not 3).
    query = [0, 6, 2, 0, 2, 3, 0, 0, 1, 0, 8, 0, 3, 2, 0, 13, 7, 3, 4]
    tail = [[4, 3, 3, 3, 2, 0, 0, 0], [4, 5, 5, 2, 1, 0, 0, 0], [4, 0, 0, 0, 0, 0, 0, 0], [4, 6, 6, 6, 6, 0, 0, 0]]
    seeds.append(bytes([3] + sum((query + t for t in tail), [])))
    return seeds


def queue_seeds():
    seeds = random_seeds(2, 16, 8, 120)
    # enqueue t1/acme, claim as w1, complete; enqueue, claim, fail five times
    seeds.append(bytes([0, 0, 0, 0, 0, 0, 1, 1, 0, 3, 0, 2, 0, 5, 0, 0, 2, 2, 2, 2]))
    seeds.append(bytes([0, 1, 0, 1, 0, 1, 2, 2, 0] + [3, 1, 2, 0, 7, 0, 0, 9, 8] * 6))
    # NUL bytes: a type with one (refused), content with one (kept), a
    # worker with one (refused), then claim, complete and stats
    seeds.append(bytes([0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 4, 2, 0,
                        3, 0, 2, 0, 5, 0, 0, 2, 1, 2, 3, 0, 11, 1]))
    return seeds


PII_TEXTS = [
    "Écrivez à ana.perez@example.com ou appelez +54 9 11 4567-8901.",
    "IBAN GB82 WEST 1234 5698 7654 32, tarjeta 4111-1111-1111-1111, CUIT 20-12345678-6",
    "tarjeta 4111-1111-1111-1112",
    "call 212-555-0187 or write to a@b.io",
    "Pasaporte AAA123456, born on 12 March 1985, plate 34 ABC 1234",
    "ver https://example.org/informe desde 192.168.0.1 o 2001:db8::1, MAC 01:23:45:67:89:ab",
    "AKIAIOSFODNN7EXAMPLE y eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc, SSN 078-05-1120",
    "nacido el 12 de marzo de 1985, DNI 12.345.678",
]


def pii_seeds():
    seeds = []
    for i, t in enumerate(PII_TEXTS):
        for b, c in [(0, 0), (0x20, 0x41), (0x01, 1 | (1 << 3) | (4 << 5)), (0x12, 2), (0, 3),
                     (0x04, 4), (0x0c, 0xc0)]:
            head = bytes([1, b, c]) + (bytes([1 | (2 << 5)]) if b & 16 else b"")
            seeds.append(head + t.encode())
    seeds.append(bytes([1, 0, 0]) + b"ana@example.com\xff")
    seeds.append(bytes([1, 0, 0]) + b"see https://example.org/in\x00x, ana@example.com\x00 and 4111-1111-1111-1111")
    seeds.extend(bytes([0]) + s for s in random_seeds(3, 12, 4, 80))
    return seeds


CHUNK_TEXT = "Fiebre alta. El paciente de 54 años ingresó el martes con tos."


def chunk_seeds():
    seeds = [bytes([1, 0x40 | 4, 0x40 | 2]) + CHUNK_TEXT.encode(),
             bytes([1, 0x40 | 4, 0x40]) + b"   ",
             bytes([1, 0x40 | 2, 0x40 | 2]) + b"a b c",
             bytes([1, 0x40, 0x40]) + "x\ty\nz\r\n\v\f é 中 🙂".encode(),
             bytes([1, 0x40 | 11, 0x40 | 10]) + b"!!! ... --- word",
             bytes([0x81, 0x40 | 3, 0x40]) + b"null text",
             bytes([0xc1, 0x40 | 3, 0x40]) + b"a blob",
             bytes([1, 0x40 | 3, 0x40]) + b"bad \xc3\x28 utf8",
             bytes([1, 0x01, 0x40]) + b"max -1",
             bytes([1, 0x40 | 3, 0x20]) + b"overlap 2.5",
             bytes([1, 0x40 | 2, 0x40 | 1]) + b"a\x00b c d\x00 e f\x00",
             bytes([1, 0x40 | 3, 0x40]) + b"!?" * 60 + b"word tail"]
    seeds.extend(bytes([0]) + s for s in random_seeds(4, 12, 4, 200))
    return seeds


def fulltext_seeds():
    texts = ["The Connections of running DOGS, caf\u00e9!", "IL-6 and TNF-\u03b1 in p53 knock-outs",
             "\u6771\u4eac\u90fd\u306e\u5730\u56f3 \uff21\uff22\uff23 \ufb01nance Stra\u00dfe",
             "the of and or not", "x" * 80 + " generalizations oscillators", "e-mail don't x_y \U0001f600smile"]
    seeds = [bytes([0]) + t.encode() for t in texts]
    seeds.append(bytes([0]) + b"bad \xc3\x28 utf8 \xff\xfe and a\x00nul")
    # part 1: first rowid (8 bytes), count, then chunk bytes
    seeds.append(bytes([1]) + bytes(8) + bytes([3]) + bytes([0, 1, 5, 2, 2, 7, 127, 1, 1]))
    seeds.append(bytes([1]) + b"\x7f" + b"\xff" * 7 + bytes([1]) + bytes([0, 1, 1]))
    seeds.append(bytes([1]) + bytes(8) + bytes([2]) + b"\x80\x00\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01\x01")
    seeds.extend(bytes([0]) + s for s in random_seeds(5, 8, 4, 200))
    seeds.extend(bytes([1]) + s for s in random_seeds(6, 8, 12, 100))
    return seeds


def bert_seeds():
    import json, struct
    # part 0: flags (clean, chinese, strip accents, lower), max word chars, max tokens, text
    texts = ["Unaffable cat, the CAF\u00c9!", "[CLS] the [MASK] x [SEP]cat [sep", "\u4e2d\u6587 caf\u00e9 xxx 12",
             "a\u0301a\u0300 \t\n\r \x00 \u200b the", "x" * 130 + " unaffable"]
    seeds = [bytes([0, 0x0f, 100, 20]) + t.encode() for t in texts]
    seeds.append(bytes([0, 0x01, 3, 5]) + b"bad \xc3\x28 utf8 \xff the cat")
    # part 1: safetensors files, whole and damaged
    def st(header, data):
        h = json.dumps(header).encode()
        return bytes([1]) + struct.pack("<Q", len(h)) + h + data
    good = {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "b": {"dtype": "F16", "shape": [3], "data_offsets": [16, 22]}}
    seeds.append(st(good, bytes(range(22))))
    seeds.append(st(good, bytes(range(21))))
    seeds.append(st({"a": {"dtype": "BF16", "shape": [0], "data_offsets": [0, 0]}}, b""))
    seeds.append(st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)))
    seeds.append(bytes([1]) + struct.pack("<Q", 1 << 40) + b"{}")
    seeds.extend(bytes([0, 0x0f, 100, 30]) + s for s in random_seeds(7, 6, 4, 120))
    seeds.extend(bytes([1]) + s for s in random_seeds(8, 6, 8, 120))
    return seeds


def main():
    targets = {"vector": vector_seeds, "tabledef": tabledef_seeds, "knn": knn_seeds, "pii": pii_seeds,
               "chunk": chunk_seeds, "queue": queue_seeds, "fulltext": fulltext_seeds, "bert": bert_seeds}
    for name, make in targets.items():
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        write(name, make())


if __name__ == "__main__":
    main()
