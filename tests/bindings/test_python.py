#!/usr/bin/python3
"""Tests of the Python package in bindings/python and of docs/python.md.

Run with a Python whose sqlite3 module can load extensions (Debian's):

    VG_EXTENSION=$PWD/build/vecguard.so /usr/bin/python3 tests/bindings/test_python.py

VG_EXTENSION defaults to build/vecguard.so of this checkout, VG_DOCS (where
python.md is) to its docs/. The package is imported from this checkout's
bindings/python whatever PYTHONPATH says. numpy's paths run when numpy
imports (Debian: python3-numpy); VG_REQUIRE_NUMPY=1 makes its absence a
failure. Arguments go to unittest (-v, a test name). Standard library only.
"""

import array
import contextlib
import fractions
import importlib.util
import io
import json
import math
import os
import random
import re
import shutil
import sqlite3
import struct
import sys
import tempfile
import unittest
from unittest import mock

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACKAGE_SRC = os.path.join(REPO, "bindings", "python", "vecguard", "__init__.py")
sys.path.insert(0, os.path.join(REPO, "bindings", "python"))

import vecguard  # noqa: E402
from vecguard import serialize_float32  # noqa: E402

EXTENSION = os.path.abspath(os.environ.get("VG_EXTENSION") or os.path.join(REPO, "build", "vecguard.so"))
DOCS = os.environ.get("VG_DOCS") or os.path.join(REPO, "docs")
os.environ["VG_EXTENSION"] = EXTENSION

try:
    import numpy
except ImportError:
    numpy = None

FLT_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]


def connect():
    con = sqlite3.connect(":memory:")
    vecguard.load(con)
    return con


def pack(values):
    """The reference: struct's little-endian float32, element by element."""
    return b"".join(struct.pack("<f", float(x)) for x in values)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def ref_distance(a, b, metric):
    """The distances of docs/vectors.md, in double precision on the float32 values."""
    a = [f32(x) for x in a]
    b = [f32(x) for x in b]
    dot = sum(x * y for x, y in zip(a, b))
    if metric == "l2":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    if metric == "cosine":
        return 1 - dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    if metric == "ip":
        return -dot
    raise AssertionError(metric)


def close(got, want):
    # vecguard computes in float32; a wrong metric or vector is off by far more.
    return math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-4)


def import_copy(path):
    """Import the package file at path as a module of its own."""
    name = "vecguard_copy_%d" % import_copy.n
    import_copy.n += 1
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


import_copy.n = 0


class TestSerialize(unittest.TestCase):
    VECTORS = [
        [1, -2.5],
        [0.1, -0.2, 3, 1e16, -1e-30, 0.0, -0.0, 123456789],
        [FLT_MAX, -FLT_MAX, 1e-45],
        [random.Random(7).gauss(0, 1) for _ in range(384)],
    ]

    def test_bytes_equal_struct_pack_for_every_input_kind(self):
        for v in self.VECTORS:
            want = struct.pack("<%df" % len(v), *v)
            self.assertEqual(len(want), 4 * len(v))
            kinds = {
                "list": list(v),
                "tuple": tuple(v),
                "generator": (x for x in v),
                "array d": array.array("d", v),
                "array f": array.array("f", v),
            }
            for kind, x in kinds.items():
                with self.subTest(kind=kind, n=len(v)):
                    self.assertEqual(serialize_float32(x), want)
        self.assertEqual(serialize_float32(range(3)), pack([0, 1, 2]))
        self.assertEqual(serialize_float32(array.array("i", [7, -3])), pack([7, -3]))
        self.assertEqual(serialize_float32([fractions.Fraction(1, 3)]), pack([1 / 3]))

    def test_little_endian_layout(self):
        self.assertEqual(serialize_float32([1, -2.5]), bytes.fromhex("0000803F000020C0"))
        self.assertIsInstance(serialize_float32([1]), bytes)

    def test_rounds_into_the_float32_range_like_struct(self):
        just_above = FLT_MAX * (1 + 2 ** -26)  # rounds down to FLT_MAX
        self.assertEqual(serialize_float32([just_above]), pack([FLT_MAX]))

    def test_the_extension_reads_the_same_vector(self):
        con = connect()
        rng = random.Random(11)
        for n in (1, 3, 384, 1536):
            v = [round(rng.uniform(-5, 5), 6) for _ in range(n)]
            blob = serialize_float32(v)
            with self.subTest(n=n):
                # the extension's own JSON reader is the independent reference
                self.assertEqual(con.execute("SELECT vg_vector(?)", (json.dumps(v),)).fetchone()[0], blob)
                self.assertEqual(con.execute("SELECT vg_dims(?)", (blob,)).fetchone()[0], n)
        self.assertEqual(con.execute("SELECT vg_vector_json(?)", (serialize_float32([1, -2.5, 0.1]),)).fetchone()[0],
                         "[1,-2.5,0.1]")

    def test_errors_name_the_problem(self):
        cases = [
            ([1.0, float("nan")], ValueError, "element 1 is nan"),
            ([float("inf")], ValueError, "element 0 is inf"),
            ([0, 0, -float("inf")], ValueError, "element 2 is -inf"),
            ([1, 3.5e38], ValueError, "element 1 (3.5e+38) is outside the float32 range"),
            ([-1e39], ValueError, "element 0 (-1e+39) is outside the float32 range"),
            ([], ValueError, "empty vector"),
            (iter([]), ValueError, "empty vector"),
            ([[1, 2], [3, 4]], TypeError, "element 0 is a list ([1, 2]), not a number"),
            ([1, "2"], TypeError, "element 1 is a str ('2'), not a number"),
            ([1, None], TypeError, "element 1 is None, not a number"),
            ([True, False], TypeError, "element 0 is a bool (True)"),
            ([1, 2j], TypeError, "element 1 is a complex"),
            (1.5, TypeError, "expected one vector (a list, tuple or array of numbers); got a float (1.5)"),
            (None, TypeError, "got None"),
            ("[1, 2]", TypeError, "got a str; pass JSON text"),
            (b"\x00\x00\x80?", TypeError, "got bytes; a float32 BLOB goes to SQL as it is"),
            (bytearray(4), TypeError, "got bytearray"),
            (memoryview(b"abcd"), TypeError, "got memoryview"),
            (array.array("u", "ab"), TypeError, "element 0 is a str"),
        ]
        for value, error, message in cases:
            with self.subTest(value=value):
                with self.assertRaises(error) as cm:
                    serialize_float32(value)
                text = str(cm.exception)
                self.assertTrue(text.startswith("serialize_float32: "), text)
                self.assertIn(message, text)
        with self.assertRaises(TypeError) as cm:
            serialize_float32([[1, 2]])
        self.assertIn("serialize several one by one", str(cm.exception))

    def test_long_values_are_cut_in_messages(self):
        with self.assertRaises(TypeError) as cm:
            serialize_float32([1, "x" * 1000])
        self.assertLess(len(str(cm.exception)), 200)


class TestNumpy(unittest.TestCase):
    """serialize_float32 with numpy arrays: defined only when numpy imports."""

    def test_float32_and_float64_give_the_same_bytes(self):
        rng = numpy.random.default_rng(5)
        for n in (1, 7, 384):
            v64 = rng.standard_normal(n)
            self.assertEqual(v64.dtype, numpy.float64)
            want = pack(v64.tolist())
            with self.subTest(n=n):
                self.assertEqual(serialize_float32(v64), want)
                self.assertEqual(len(serialize_float32(v64)), 4 * n)  # not 8 * n
                self.assertEqual(serialize_float32(v64.astype(numpy.float32)), want)
                self.assertEqual(serialize_float32(v64.astype(numpy.float32)), v64.astype("<f4").tobytes())

    def test_the_float64_trap_against_the_extension(self):
        con = connect()
        v = numpy.array([0.9, 0.1, 0.0, 0.0])
        dims = "SELECT vg_dims(?)"
        self.assertEqual(con.execute(dims, (v.tobytes(),)).fetchone()[0], 8)
        self.assertEqual(con.execute(dims, (serialize_float32(v),)).fetchone()[0], 4)
        self.assertEqual(con.execute("SELECT vg_vector_json(?)", (serialize_float32(v),)).fetchone()[0],
                         "[0.9,0.1,0,0]")

    def test_layouts_and_dtypes(self):
        base = [1.5, -2.0, 0.25, 8.0, 3.0, -7.0]
        want = pack(base)
        m = numpy.array([base, base]).T  # columns of a Fortran-ordered view
        arrays = {
            "big-endian f4": numpy.array(base, dtype=">f4"),
            "big-endian f8": numpy.array(base, dtype=">f8"),
            "float16": numpy.array(base, dtype=numpy.float16),
            "longdouble": numpy.array(base, dtype=numpy.longdouble),
            "strided": numpy.array([x for x in base for _ in (0, 1)])[::2],
            "column": m[:, 0],
            "object": numpy.array(base, dtype=object),
        }
        for kind, a in arrays.items():
            with self.subTest(kind=kind):
                self.assertEqual(serialize_float32(a), want)
        ints = [0, 1, -3, 255, 2 ** 31 - 1]
        for dtype in ("int8", "int32", "int64", "uint8", "uint64"):
            info = numpy.iinfo(dtype)
            a = numpy.array([x for x in ints if info.min <= x <= info.max], dtype=dtype)
            with self.subTest(dtype=dtype):
                self.assertEqual(serialize_float32(a), pack(a.tolist()))
        self.assertEqual(serialize_float32([numpy.float32(0.1), numpy.int64(2), numpy.float64(0.3)]),
                         pack([0.1, 2, 0.3]))

    def test_errors(self):
        cases = [
            (numpy.zeros((2, 3)), ValueError, "got shape (2, 3): serialize each row"),
            (numpy.zeros((1, 4), dtype=numpy.float32), ValueError, "got shape (1, 4)"),
            (numpy.float32(1.0), ValueError, "got shape ()"),
            (numpy.array([]), ValueError, "empty vector"),
            (numpy.array([1.0, 2.0, numpy.nan]), ValueError, "element 2 is nan"),
            (numpy.array([numpy.inf], dtype=numpy.float32), ValueError, "element 0 is inf"),
            (numpy.array([1.0, -1e39]), ValueError, "element 1 (-1e+39) is outside the float32 range"),
            (numpy.array([True, False]), TypeError, "got dtype bool"),
            (numpy.array([1 + 2j]), TypeError, "got dtype complex128"),
            (numpy.array(["1", "2"]), TypeError, "got dtype <U1"),
            (numpy.array([1.0, None], dtype=object), TypeError, "element 1 is None"),
        ]
        for value, error, message in cases:
            with self.subTest(value=repr(value)):
                with self.assertRaises(error) as cm:
                    serialize_float32(value)
                self.assertIn(message, str(cm.exception))


if numpy is None:
    del TestNumpy


class TestLoad(unittest.TestCase):
    def test_load_and_version(self):
        con = connect()
        version = con.execute("SELECT vg_version()").fetchone()[0]
        self.assertTrue(version.startswith("vecguard %s (" % vecguard.__version__), version)
        with open(os.path.join(REPO, "bindings", "python", "pyproject.toml"), encoding="utf-8") as f:
            self.assertIn('\nversion = "%s"\n' % vecguard.__version__, f.read())

    def assert_loading_is_off(self, con):
        with self.assertRaises(sqlite3.OperationalError) as cm:
            con.load_extension(EXTENSION)
        self.assertIn("not authorized", str(cm.exception))
        with self.assertRaises(sqlite3.OperationalError) as cm:
            con.execute("SELECT load_extension(?)", (EXTENSION,))
        self.assertIn("not authorized", str(cm.exception))

    def test_loading_is_off_afterwards(self):
        self.assert_loading_is_off(connect())

    def test_loading_is_off_after_a_failure(self):
        con = sqlite3.connect(":memory:")
        missing = os.path.join(tempfile.gettempdir(), "no-such-dir-vg", "vecguard.so")
        with mock.patch.dict(os.environ, {"VG_EXTENSION": missing}):
            with self.assertRaises(sqlite3.OperationalError) as cm:
                vecguard.load(con)
        text = str(cm.exception)
        self.assertIn(repr(missing), text)
        self.assertIn("set VG_EXTENSION", text)
        self.assertIsInstance(cm.exception.__cause__, sqlite3.OperationalError)
        self.assert_loading_is_off(con)
        with self.assertRaises(sqlite3.OperationalError):
            con.execute("SELECT vg_version()")

    def test_any_failure_turns_loading_off(self):
        calls = []

        class Connection:
            def enable_load_extension(self, on):
                calls.append(("enable", on))

            def load_extension(self, path):
                calls.append(("load", path))
                raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            vecguard.load(Connection())
        self.assertEqual(calls, [("enable", True), ("load", EXTENSION), ("enable", False)])

    def test_python_without_extension_loading(self):
        class Connection:  # what sqlite3 gives where loading was left out
            def execute(self, sql):
                raise AssertionError("not reached")

        with self.assertRaises(RuntimeError) as cm:
            vecguard.load(Connection())
        text = str(cm.exception)
        self.assertIn("cannot load extensions", text)
        self.assertIn("allows enable_load_extension", text)
        self.assertIn("/usr/bin/python3", text)
        self.assertIn(sys.executable, text)


class TestLoadablePath(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vg-binding-")
        self.addCleanup(shutil.rmtree, self.tmp)
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        del os.environ["VG_EXTENSION"]

    def package_at(self, *parts):
        """A copy of the package in tmp/parts.../vecguard, imported."""
        pkg = os.path.join(self.tmp, *parts, "vecguard")
        os.makedirs(pkg)
        shutil.copy(PACKAGE_SRC, os.path.join(pkg, "__init__.py"))
        return pkg, import_copy(os.path.join(pkg, "__init__.py"))

    def touch(self, *parts):
        path = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()
        return path

    def test_environment_variable_first_as_given(self):
        pkg, module = self.package_at("site")
        self.touch("site", "vecguard", "vecguard.so")
        for value in ("/nowhere/vecguard.so", "relative/vg.so"):
            os.environ["VG_EXTENSION"] = value
            self.assertEqual(module.loadable_path(), value)
        os.environ["VG_EXTENSION"] = ""  # empty: as if unset
        self.assertEqual(module.loadable_path(), os.path.join(pkg, "vecguard.so"))

    def test_beside_the_package_before_the_build_tree(self):
        pkg, module = self.package_at("repo", "bindings", "python")
        self.touch("repo", "ext", "vecguard.c")
        built = self.touch("repo", "build", "vecguard.so")
        self.assertEqual(module.loadable_path(), built)
        beside = self.touch("repo", "bindings", "python", "vecguard", "vecguard.so")
        self.assertEqual(module.loadable_path(), beside)

    def test_build_tree_only_in_a_vecguard_checkout(self):
        pkg, module = self.package_at("repo", "bindings", "python")
        self.touch("repo", "build", "vecguard.so")
        self.assertEqual(module.loadable_path(), "vecguard")  # no ext/vecguard.c
        self.touch("repo", "ext", "vecguard.c")
        self.assertEqual(module.loadable_path(), os.path.join(self.tmp, "repo", "build", "vecguard.so"))

    def test_bare_name_last(self):
        pkg, module = self.package_at("repo", "bindings", "python")
        self.touch("repo", "ext", "vecguard.c")  # a checkout not built yet
        self.assertEqual(module.loadable_path(), "vecguard")
        pkg, module = self.package_at("venv", "lib", "site-packages")
        self.assertEqual(module.loadable_path(), "vecguard")

    def test_this_checkout(self):
        built = os.path.join(REPO, "build", "vecguard.so")
        self.assertEqual(vecguard.loadable_path(), built if os.path.isfile(built) else "vecguard")

    def test_load_uses_the_fallback(self):
        pkg, module = self.package_at("site")
        # a link, not a copy: one file, so dlopen gives back the library already loaded
        os.symlink(EXTENSION, os.path.join(pkg, "vecguard.so"))
        con = sqlite3.connect(":memory:")
        module.load(con)
        self.assertEqual(con.execute("SELECT vg_distance('[0, 0]', '[3, 4]')").fetchone()[0], 5.0)


class TestTable(unittest.TestCase):
    """Vectors from serialize_float32 in a vg_hnsw table, against distances computed here."""

    DIMS = 16

    def test_knn_and_distance_against_a_reference(self):
        rng = random.Random(2024)
        con = connect()
        for metric in ("l2", "cosine", "ip"):
            with self.subTest(metric=metric):
                self.check_metric(con, rng, metric)

    def check_metric(self, con, rng, metric):
        table = "t_" + metric
        con.execute("CREATE VIRTUAL TABLE %s USING vg_hnsw(embedding float[%d] distance_metric=%s,"
                    " tenant text partition key, +note text)" % (table, self.DIMS, metric))
        rows = {}
        for rowid in range(1, 301):
            rows[rowid] = ([rng.gauss(0, 1) for _ in range(self.DIMS)], "ab"[rowid % 2])
        with con:
            con.executemany("INSERT INTO %s(rowid, embedding, tenant, note) VALUES (?, ?, ?, ?)" % table,
                            [(r, serialize_float32(v), t, "row %d" % r) for r, (v, t) in rows.items()])
        for rowid, blob in con.execute("SELECT rowid, embedding FROM %s" % table):
            self.assertEqual(blob, pack(rows[rowid][0]))

        for _ in range(20):
            a = [rng.gauss(0, 1) for _ in range(self.DIMS)]
            b = [rng.gauss(0, 1) for _ in range(self.DIMS)]
            got = con.execute("SELECT vg_distance(?, ?, ?)", (serialize_float32(a), serialize_float32(b), metric))
            self.assertTrue(close(got.fetchone()[0], ref_distance(a, b, metric)))

        k, found, wanted = 10, 0, 0
        for _ in range(5):
            q = [rng.gauss(0, 1) for _ in range(self.DIMS)]
            ref = sorted((ref_distance(q, v, metric), r) for r, (v, t) in rows.items() if t == "a")
            for exact in (1, 0):
                got = con.execute("SELECT rowid, distance, note FROM %s WHERE embedding MATCH ? AND k = ?"
                                  " AND tenant = 'a' AND exact = ?" % table,
                                  (serialize_float32(q), k, exact)).fetchall()
                self.assertEqual(len(got), k)
                for i, (rowid, distance, note) in enumerate(got):
                    self.assertEqual(rows[rowid][1], "a")
                    self.assertEqual(note, "row %d" % rowid)
                    self.assertTrue(close(distance, ref_distance(q, rows[rowid][0], metric)),
                                    (metric, rowid, distance))
                    if exact:
                        # rank by rank, so near-ties may swap rowids but not distances
                        self.assertTrue(close(distance, ref[i][0]), (metric, i, distance, ref[i]))
                if not exact:
                    found += len({r for r, _, _ in got} & {r for _, r in ref[:k]})
                    wanted += k
        self.assertGreaterEqual(found / wanted, 0.9, "recall of the graph search, %s" % metric)


class TestDocs(unittest.TestCase):
    """Every ```python block of docs/python.md, in order, in one namespace;
    the ```output block after one must be what it prints."""

    BLOCK = re.compile(r"^```python\n(.*?)^```\n(\n*```output\n(.*?)^```\n)?", re.S | re.M)

    def test_examples(self):
        path = os.path.join(DOCS, "python.md")
        with open(path, encoding="utf-8") as f:
            doc = f.read()
        blocks = list(self.BLOCK.finditer(doc))
        self.assertGreaterEqual(len(blocks), 5)
        self.assertEqual(len(blocks), doc.count("```python\n"), "an unterminated ```python block")
        namespace = {"__name__": "__docs__"}
        cwd = os.getcwd()
        tmp = tempfile.mkdtemp(prefix="vg-docs-")
        self.addCleanup(shutil.rmtree, tmp)
        os.chdir(tmp)  # examples that write files write them here
        self.addCleanup(os.chdir, cwd)
        left_out = []
        for m in blocks:
            line = doc.count("\n", 0, m.start()) + 2
            code = m.group(1)
            if numpy is None and re.search(r"\b(np|numpy)\b", code):
                left_out.append(line)
                continue
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                # padded so that a traceback gives the line in python.md
                exec(compile("\n" * (line - 1) + code, path, "exec"), namespace)
            if m.group(2):
                self.assertEqual(out.getvalue(), m.group(3), "output of the example at %s:%d" % (path, line))
        if left_out:
            print("\nnumpy not installed: the examples at lines %s of docs/python.md did not run"
                  % ", ".join(map(str, left_out)))


def main():
    sys.stdout.reconfigure(line_buffering=True)  # in order with unittest's stderr through a pipe
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        print("test_python.py: %s's sqlite3 cannot load extensions; run it with one that can, "
              "e.g. Debian's /usr/bin/python3" % sys.executable)
        return 2
    if not os.path.isfile(EXTENSION):
        print("test_python.py: no extension at %s: run make, or set VG_EXTENSION" % EXTENSION)
        return 2
    if numpy is None:
        print("numpy not installed: serialize_float32's numpy paths are not tested here "
              "(Debian: apt-get install python3-numpy)")
        if os.environ.get("VG_REQUIRE_NUMPY") == "1":
            print("test_python.py: VG_REQUIRE_NUMPY=1 and numpy does not import")
            return 1
    result = unittest.main(exit=False).result
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    print("bindings: %d passed, %d failed" % (result.testsRun - failed, failed))
    return 0 if result.wasSuccessful() and result.testsRun else 1


if __name__ == "__main__":
    sys.exit(main())
