"""Python helpers for vecguard, the SQLite extension for vector search.

    import sqlite3
    import vecguard

    db = sqlite3.connect("app.db")
    vecguard.load(db)
    db.execute("SELECT vg_distance(?, ?)",
               (vecguard.serialize_float32([0, 0]),
                vecguard.serialize_float32([3, 4])))

See docs/python.md in the vecguard repository.
"""

import math
import numbers
import os
import sqlite3
import struct
import sys

__version__ = "0.1.0"
__all__ = ["loadable_path", "load", "serialize_float32", "__version__"]

_FILE = "vecguard.so"


def loadable_path():
    """Return the path of the vecguard extension, for ``load_extension``.

    The first of these that applies:

    1. the environment variable ``VG_EXTENSION``, if set and not empty,
       as given (a file path such as ``/opt/vecguard/vecguard.so``);
    2. ``vecguard.so`` in this package's directory (where a packaged
       wheel would put it);
    3. ``<repo>/build/vecguard.so`` (after ``make``) when this package is
       imported from a vecguard source tree, as
       ``<repo>/bindings/python/vecguard``;
    4. the bare name ``"vecguard"``, which SQLite's loader looks for as
       ``vecguard.so`` in ``LD_LIBRARY_PATH``, ``/lib`` and ``/usr/lib``
       (not ``/usr/local/lib``: the loader's cache lists only ``lib*.so``).

    Raises nothing and opens nothing: a wrong path shows when loading.
    """
    env = os.environ.get("VG_EXTENSION")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    beside = os.path.join(here, _FILE)
    if os.path.isfile(beside):
        return beside
    repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    built = os.path.join(repo, "build", _FILE)
    # Only in a vecguard checkout: an installed package's grandparents are
    # someone else's directories.
    if os.path.isfile(os.path.join(repo, "ext", "vecguard.c")) and os.path.isfile(built):
        return built
    return "vecguard"


def load(con):
    """Load the vecguard extension, found by loadable_path(), into ``con``.

    ``con`` is a ``sqlite3.Connection``. Extension loading is enabled for
    this call only and is off again when it returns or raises, so that SQL
    run on ``con`` later cannot load libraries with ``load_extension()``.

    Raises RuntimeError when this Python's sqlite3 module was built without
    extension loading (no ``enable_load_extension``), and
    sqlite3.OperationalError, naming the path tried, when loading fails.
    """
    if not hasattr(con, "enable_load_extension"):
        raise RuntimeError(
            "vecguard.load: this Python's sqlite3 module cannot load extensions "
            "(it was built without enable_load_extension; this Python is %s). "
            "Use a Python whose sqlite3 module allows enable_load_extension, "
            "e.g. Debian's /usr/bin/python3" % (sys.executable or "unknown"))
    path = loadable_path()
    con.enable_load_extension(True)
    try:
        con.load_extension(path)
    except sqlite3.OperationalError as e:
        raise sqlite3.OperationalError(
            "vecguard.load: cannot load %r: %s; set VG_EXTENSION to the path "
            "of vecguard.so (see vecguard.loadable_path())" % (path, e)) from e
    finally:
        con.enable_load_extension(False)


def serialize_float32(vector):
    """Return ``vector`` as a float32 BLOB: 4 bytes per element, little-endian.

    That is the BLOB form vecguard takes wherever it takes a vector (and the
    one sqlite-vec stores). ``vector`` is one vector: a list, tuple or other
    iterable of real numbers, an ``array.array``, or a 1-D numpy array of
    any integer or float dtype. Each element is rounded to float32, so a
    float64 array gives the same bytes as the same array in float32 (its
    raw 8-byte values would be read as twice as many dimensions).

    Raises TypeError for what is not a vector of numbers (a str, bytes, a
    nested list, an element that is not a real number, a bool) and
    ValueError for an empty vector, an array that is not 1-D, NaN or
    infinity, or an element outside the float32 range.
    """
    if hasattr(vector, "__array__"):
        blob = _serialize_array(vector)
        if blob is not None:
            return blob
    if isinstance(vector, str):
        raise TypeError(
            "serialize_float32: got a str; pass JSON text such as '[1, 2]' "
            "to SQL as it is, or send a list or array of numbers")
    if isinstance(vector, (bytes, bytearray, memoryview)):
        raise TypeError(
            "serialize_float32: got %s; a float32 BLOB goes to SQL as it is: "
            "send a list or array of numbers to make one" % type(vector).__name__)
    try:
        items = list(vector)
    except TypeError:
        raise TypeError(
            "serialize_float32: expected one vector (a list, tuple or array "
            "of numbers); got %s" % _describe(vector)) from None
    if not items:
        raise ValueError("serialize_float32: empty vector: a vector needs at least one element")
    values = []
    for i, x in enumerate(items):
        # bool is an int to Python but never a coordinate; a mask sent by
        # mistake should not become a vector of ones and zeros.
        if isinstance(x, bool) or not isinstance(x, numbers.Real):
            raise TypeError(
                "serialize_float32: element %d is %s, not a number: send int or "
                "float elements (one vector; serialize several one by one)"
                % (i, _describe(x)))
        f = float(x)
        if not math.isfinite(f):
            raise ValueError(
                "serialize_float32: element %d is %r: vecguard takes finite numbers only" % (i, f))
        values.append(f)
    try:
        return struct.pack("<%df" % len(values), *values)
    except OverflowError:
        for i, f in enumerate(values):
            try:
                struct.pack("<f", f)
            except OverflowError:
                raise _out_of_range(i, f) from None
        raise


def _serialize_array(vector):
    """The BLOB of a numpy array (or array-like), or None to check it element by element."""
    try:
        import numpy
    except ImportError:
        return None
    a = numpy.asarray(vector)
    if a.ndim != 1:
        raise ValueError(
            "serialize_float32: expected one vector, a 1-D array; got shape %s: "
            "serialize each row, e.g. [serialize_float32(row) for row in a]" % (a.shape,))
    if a.dtype.kind == "O":
        return None
    if a.dtype.kind not in "iuf":
        raise TypeError(
            "serialize_float32: expected an array of numbers; got dtype %s: "
            "send an integer or float array" % a.dtype)
    if a.size == 0:
        raise ValueError("serialize_float32: empty vector: a vector needs at least one element")
    if a.dtype.kind == "f":
        bad = numpy.flatnonzero(~numpy.isfinite(a))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                "serialize_float32: element %d is %r: vecguard takes finite numbers only"
                % (i, float(a[i])))
    with numpy.errstate(over="ignore"):
        f32 = a.astype("<f4")
    bad = numpy.flatnonzero(~numpy.isfinite(f32))
    if bad.size:
        i = int(bad[0])
        raise _out_of_range(i, float(a[i]))
    return f32.tobytes()


def _out_of_range(i, f):
    return ValueError(
        "serialize_float32: element %d (%r) is outside the float32 range "
        "(magnitude up to about 3.4e38)" % (i, f))


def _describe(x):
    if x is None:
        return "None"
    text = repr(x)
    if len(text) > 40:
        text = text[:37] + "..."
    return "a %s (%s)" % (type(x).__name__, text)
