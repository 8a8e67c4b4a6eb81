"""A second, independent reader of vecguardd's sync objects (docs/sync.md),
written from the format's description, not from appliance/sync.c: the sync
tests compare the daemon's restore against it and use it to look inside
every object (an erasure scan), or to forge an object with a held key.

    import syncobj
    keys = syncobj.Keys(open(keyfile, "rb").read(), "acme")
    store = syncobj.DirStore("/mnt/target")          # or DictStore({"acme/…": bytes})
    m = syncobj.read_manifest(store, keys)            # the latest manifest
    data = syncobj.rebuild(store, keys, m)            # the database file's bytes
    syncobj.file_hash(data, m["page_size"]) == m["file_hash"]

Every refusal is an ObjectError naming the object.
"""
import sys

sys.dont_write_bytecode = True

import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import struct  # noqa: E402

import zstandard  # noqa: E402
from nacl import bindings as nb  # noqa: E402

HEADER = nb.crypto_secretstream_xchacha20poly1305_HEADERBYTES  # 24
ABYTES = nb.crypto_secretstream_xchacha20poly1305_ABYTES  # 17
TAG_MESSAGE = nb.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = nb.crypto_secretstream_xchacha20poly1305_TAG_FINAL  # 3
CHUNK = 64 * 1024
SEGMENT_MAGIC = b"VGSEG1\n\0"


class ObjectError(Exception):
    """An object that does not open or does not fit: the message names it."""

    def __init__(self, name, why):
        Exception.__init__(self, "object %s is refused: %s" % (name, why))
        self.name, self.why = name, why


def derive(sync_key, purpose, tenant):
    """BLAKE2b-256 keyed with the sync key over purpose NUL tenant NUL."""
    h = hashlib.blake2b(digest_size=32, key=sync_key)
    h.update(purpose.encode() + b"\0")
    h.update(tenant.encode() + b"\0")
    return h.digest()


class Keys:
    """The tenant's data key and name key, derived from the 32-byte sync key."""

    def __init__(self, sync_key, tenant):
        if len(sync_key) != 32:
            raise ValueError("a sync key is 32 bytes, not %d" % len(sync_key))
        self.tenant = tenant
        self.data = derive(sync_key, "vecguard sync data", tenant)
        self.names = derive(sync_key, "vecguard sync names", tenant)

    def name(self, kind, seq):
        """tenant/<32 hex>: BLAKE2b-128 keyed with the name key over kind:seq."""
        if kind not in ("snapshot", "segment", "manifest"):
            raise ValueError(kind)
        h = hashlib.blake2b(("%s:%d" % (kind, seq)).encode(), digest_size=16, key=self.names)
        return "%s/%s" % (self.tenant, h.hexdigest())

    def ad(self, name):
        """The additional data of an object's chunks."""
        tail = name.split("/", 1)[1] if "/" in name else name
        if tail == "manifest" or self.is_numbered_manifest(name):
            return ("%s/manifest" % self.tenant).encode()
        if tail == "lease":
            return ("%s/lease" % self.tenant).encode()
        return name.encode()

    _manifest_names = None

    def is_numbered_manifest(self, name, upto=4096):
        # manifests under their number have the AD <tenant>/manifest too; a
        # name tells only by matching a derived one
        if self._manifest_names is None or len(self._manifest_names) < upto:
            self._manifest_names = {self.name("manifest", i): i for i in range(1, upto + 1)}
        return name in self._manifest_names


# ------------------------------------------------------------ seal / open

def open_object(key, name, blob, ad=None):
    """Decrypt and decompress one object; ObjectError naming it on any
    change (a flipped byte, a cut, added bytes, chunks swapped, another key
    or another name's AD)."""
    ad = name.encode() if ad is None else ad
    if len(blob) < HEADER:
        raise ObjectError(name, "shorter than its header (%d bytes)" % len(blob))
    state = nb.crypto_secretstream_xchacha20poly1305_state()
    nb.crypto_secretstream_xchacha20poly1305_init_pull(state, blob[:HEADER], key)
    pos, out, final = HEADER, [], False
    while pos < len(blob):
        if final:
            raise ObjectError(name, "bytes follow its final chunk")
        if pos + 4 > len(blob):
            raise ObjectError(name, "cut short in a chunk's length")
        n = struct.unpack_from("<I", blob, pos)[0]
        pos += 4
        if n < ABYTES or n > CHUNK + ABYTES or pos + n > len(blob):
            raise ObjectError(name, "cut short, or a chunk's length (%d) is wrong" % n)
        try:
            msg, tag = nb.crypto_secretstream_xchacha20poly1305_pull(state, blob[pos:pos + n], ad)
        except Exception:
            raise ObjectError(name, "a chunk fails its authentication")
        pos += n
        out.append(msg)
        if tag == TAG_FINAL:
            final = True
        elif tag != TAG_MESSAGE:
            raise ObjectError(name, "a chunk has tag %d" % tag)
    if not final:
        raise ObjectError(name, "cut short (no final chunk)")
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(b"".join(out)))
        return reader.read()
    except zstandard.ZstdError as e:
        raise ObjectError(name, "not a zstd frame: %s" % e)


def seal_object(key, name, plain, ad=None):
    """The inverse of open_object: zstd, then secretstream chunks of up to
    64 KiB of compressed bytes, the last tagged FINAL."""
    ad = name.encode() if ad is None else ad
    comp = zstandard.ZstdCompressor(level=3).compress(plain)
    state = nb.crypto_secretstream_xchacha20poly1305_state()
    header = nb.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    parts = [header]
    pieces = [comp[i:i + CHUNK] for i in range(0, len(comp), CHUNK)] or [b""]
    for i, p in enumerate(pieces):
        tag = TAG_FINAL if i == len(pieces) - 1 else TAG_MESSAGE
        c = nb.crypto_secretstream_xchacha20poly1305_push(state, p, ad, tag)
        parts.append(struct.pack("<I", len(c)) + c)
    return b"".join(parts)


# ------------------------------------------------------------ stores

class DirStore:
    """A file:// target: <root>/<tenant>/<name>."""

    def __init__(self, root):
        self.root = root

    def get(self, name):
        try:
            with open(os.path.join(self.root, name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise KeyError(name)

    def put(self, name, blob):
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(blob)

    def names(self, tenant=None):
        out = []
        for d, _, fs in os.walk(self.root):
            for f in fs:
                out.append(os.path.relpath(os.path.join(d, f), self.root))
        return sorted(n for n in out if tenant is None or n.startswith(tenant + "/"))


class DictStore:
    """Objects fetched from S3 ({key without the prefix: bytes})."""

    def __init__(self, objects):
        self.objects = dict(objects)

    def get(self, name):
        return self.objects[name]

    def put(self, name, blob):
        self.objects[name] = blob

    def names(self, tenant=None):
        return sorted(n for n in self.objects if tenant is None or n.startswith(tenant + "/"))


def s3_store(s3, prefix):
    """Every object under s3://bucket/prefix as a DictStore (s3test.S3Server)."""
    p = prefix.strip("/") + "/" if prefix.strip("/") else ""
    return DictStore({k[len(p):]: s3.get_object(k) for k in s3.list_keys(p)})


# ------------------------------------------------------------ manifests

def open_named(store, keys, name):
    try:
        blob = store.get(name)
    except KeyError:
        raise ObjectError(name, "missing")
    return open_object(keys.data, name, blob, keys.ad(name))


def read_manifest(store, keys, name=None):
    """The latest manifest (or the one under name), checked for its tenant."""
    name = name or "%s/manifest" % keys.tenant
    try:
        m = json.loads(open_named(store, keys, name))
    except ValueError as e:
        raise ObjectError(name, "not JSON: %s" % e)
    if m.get("v") != 2 or m.get("tenant") != keys.tenant:
        raise ObjectError(name, "v %r, tenant %r" % (m.get("v"), m.get("tenant")))
    return m


def read_lease(store, keys):
    name = "%s/lease" % keys.tenant
    return json.loads(open_named(store, keys, name))


def write_manifest(store, keys, m, numbered=True):
    """Re-seal a (forged) manifest as the latest, and under its number."""
    plain = json.dumps(m).encode()
    ad = ("%s/manifest" % keys.tenant).encode()
    store.put("%s/manifest" % keys.tenant, seal_object(keys.data, "%s/manifest" % keys.tenant, plain, ad))
    if numbered:
        n = keys.name("manifest", m["seq"])
        store.put(n, seal_object(keys.data, n, plain, ad))


# ------------------------------------------------------------ rebuild

def parse_segment(name, plain):
    """(page_size, page count, [(page number, bytes)])."""
    if len(plain) < 20 or plain[:8] != SEGMENT_MAGIC:
        raise ObjectError(name, "not a segment (magic %r)" % plain[:8])
    page_size, count, n = struct.unpack_from("<III", plain, 8)
    pos, pages = 20, []
    for _ in range(n):
        if pos + 4 + page_size > len(plain):
            raise ObjectError(name, "a segment cut short")
        (no,) = struct.unpack_from("<I", plain, pos)
        pages.append((no, plain[pos + 4:pos + 4 + page_size]))
        pos += 4 + page_size
    if pos != len(plain):
        raise ObjectError(name, "%d bytes after the segment's pages" % (len(plain) - pos))
    return page_size, count, pages


def page_hashes(data, page_size):
    return [hashlib.blake2b(data[i:i + page_size], digest_size=16).digest() for i in range(0, len(data), page_size)]


def file_hash(data, page_size):
    """hex BLAKE2b-256 over every page's BLAKE2b-128, pages in order."""
    return hashlib.blake2b(b"".join(page_hashes(data, page_size)), digest_size=32).hexdigest()


def rebuild(store, keys, m=None, check=True):
    """The tenant's database bytes from the manifest's chain: the snapshot,
    each segment applied in turn; checks each object's kind and number
    against its name and, when check, the file_hash."""
    m = m or read_manifest(store, keys)
    chain = m["chain"]
    if not chain or chain[0]["kind"] != "snapshot":
        raise ObjectError("%s/manifest" % keys.tenant, "the chain does not start with a snapshot")
    data = None
    ps = m["page_size"]
    for link in chain:
        name = link["object"]
        if name != keys.name(link["kind"], link["seq"]):
            raise ObjectError(name, "is not %s %d of %s" % (link["kind"], link["seq"], keys.tenant))
        plain = open_named(store, keys, name)
        if link["kind"] == "snapshot":
            data = bytearray(plain)
        else:
            page_size, count, pages = parse_segment(name, plain)
            if page_size != ps:
                raise ObjectError(name, "page size %d, manifest %d" % (page_size, ps))
            for no, page in pages:
                at = (no - 1) * ps
                if len(data) < at:
                    data.extend(b"\0" * (at - len(data)))
                data[at:at + ps] = page
            del data[count * ps:]
    data = bytes(data)
    if check and (len(data) != m["pages"] * ps or file_hash(data, ps) != m["file_hash"]):
        raise ObjectError("%s/manifest" % keys.tenant, "the rebuilt file does not match file_hash")
    return data


def open_all(store, keys_by_tenant):
    """{name: plaintext} of every object of the store, opened with the
    tenant's keys (ObjectError if any does not open)."""
    out = {}
    for name in store.names():
        tenant = name.split("/", 1)[0]
        out[name] = open_named(store, keys_by_tenant[tenant], name)
    return out
