#!/usr/bin/python3
"""test_service.py — the OpenAI-compatible embedding service model kind
(vg_model_load(name, '{"provider": "openai", ...}')) against embed_server.py,
a local service that fails on request.

Checked: the spec's keys, defaults, ranges and refusals, and that loading
contacts nothing; the request (path under the url, model, inputs, JSON,
"Bearer <key>" from api_key_env or api_key_file, none without); vectors
equal to the service's, whose answer lists them in reverse order; retries
with backoff on 500, dropped connections and timeouts; Retry-After on 429;
no retry on 4xx or a wrong dimension; errors for malformed answers, short
batches and a service that is down; texts over max_tokens; the pipeline
(vg_configure, vg_ingest, vg_queue_run in batches of the model's size,
chunks of its max_tokens, failed items kept and retried later, a second
connection that has not loaded the model); and the keys nowhere: not in any
error, description, queue row, the database file or the service's output.
"""
import faulthandler, json, os, re, secrets, shutil, sqlite3, struct, subprocess, sys, tempfile, time
import urllib.request

EXT = os.environ.get("VG_EXTENSION", "build/vecguard.so")
HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "embed_server.py")
sys.path.insert(0, HERE)
from embed_server import vector  # noqa: E402  the service's vectors, computed here the same way

DIMS = 8
ENV = "VG_TEST_KEY"
# Unique strings, so that finding one anywhere can only mean a leak.
KEY = "vgk-" + secrets.token_hex(16)
FILE_KEY = "vgfk-" + secrets.token_hex(16)
# The failure tests' settings: fast, and few enough attempts to count.
RETRIES, TIMEOUT_MS, BACKOFF_MS = 2, 500, 10

messages = []   # every error and result text the extension gave: searched for the keys at the end
servers = []    # every embed_server.py started: killed at the end, their output searched
nChecks = [0]
# The test talks to its service directly, never through a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fail(msg):
    raise SystemExit("test_service: FAILED: " + msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    nChecks[0] += 1


class Server:
    """An embed_server.py subprocess.  Its environment holds no key; its
    output is kept, to be searched for the keys."""

    def __init__(self, port=0):
        self.output = b""
        self.err = tempfile.TemporaryFile()
        env = {k: v for k, v in os.environ.items() if k != ENV}
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", str(port), "--dims", str(DIMS),
                                      "--exit-on-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, env=env)
        servers.append(self)
        line = self.proc.stdout.readline()
        self.output += line
        if not line.strip():
            self.stop()
            fail("embed_server.py did not start (port %d): %r" % (port, self.output[-400:]))
        self.port = int(line)

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data, method=method)
        with OPENER.open(req, timeout=10) as r:
            return json.loads(r.read())

    def control(self, mode, count=1, **kw):
        """The next count requests (-1: all) fail as mode says; see embed_server.py."""
        self.request("POST", "/control", dict(mode=mode, count=count, **kw))

    def reset(self):
        self.request("POST", "/reset", {})

    def stats(self):
        return self.request("GET", "/stats")

    def stop(self):
        if self.proc.stdout.closed:  # stopped already
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.output += self.proc.stdout.read()
        self.err.seek(0)
        self.output += self.err.read()
        for f in (self.proc.stdin, self.proc.stdout, self.err):
            f.close()


def connect(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    return db


def one(db, sql, args=()):
    rows = db.execute(sql, args).fetchall()  # all: no statement left open
    return rows[0][0]


def spec(port, **kw):
    """A service spec; a key given None is left out."""
    s = {"provider": "openai", "url": "http://127.0.0.1:%d/v1" % port, "model": "m1", "dims": DIMS,
         "api_key_env": ENV}
    s.update(kw)
    return json.dumps({k: v for k, v in s.items() if v is not None})


def load(db, name, spec_json):
    try:
        out = one(db, "SELECT vg_model_load(?, ?)", (name, spec_json))
    except sqlite3.Error as e:
        messages.append(str(e))
        fail("vg_model_load(%r, %s) failed: %s" % (name, spec_json, e))
    messages.append(out)
    return json.loads(out)


def models(db):
    out = one(db, "SELECT vg_models()")
    messages.append(out)
    return json.loads(out)


def f32(xs):
    return struct.unpack("<%df" % len(xs), struct.pack("<%df" % len(xs), *xs))


def same_vector(blob, text, what):
    check(isinstance(blob, bytes) and len(blob) == 4 * DIMS,
          "%s: the vector of %r is %r, expected a float32 BLOB of %d bytes" % (what, text, blob, 4 * DIMS))
    got, want = struct.unpack("<%df" % DIMS, blob), f32(vector(text, DIMS))
    check(all(abs(a - b) <= 1e-6 for a, b in zip(got, want)),
          "%s: the vector of %r is %s, the service's is %s (a client that does not sort the answer's data by "
          "index gets another text's)" % (what, text, list(got), list(want)))


def embed(db, text, model, what):
    try:
        blob = one(db, "SELECT vg_embed(?, ?)", (text, model))
    except sqlite3.Error as e:
        messages.append(str(e))
        fail("%s: vg_embed(%r, %r) failed: %s" % (what, text, model, e))
    same_vector(blob, text, what)


def names_model(msg, name, what):
    """The project's errors quote names: model "oa"."""
    check(re.search(r'(["\'])%s\1|\bmodel %s\b' % (re.escape(name), re.escape(name)), msg),
          "%s: the error %r does not name the model \"%s\"" % (what, msg, name))


def expect_error(db, sql, args, prefix, wants, what):
    """The statement's OperationalError: it starts with prefix and says each
    of wants."""
    try:
        db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as e:
        msg = str(e)
        messages.append(msg)
        check(msg.startswith(prefix), "%s: the error %r does not start with %r" % (what, msg, prefix))
        for w in wants:
            check(w in msg, "%s: the error %r does not say %r" % (what, msg, w))
        return msg
    except sqlite3.Error as e:
        messages.append(str(e))
        fail("%s: %s %r, expected sqlite3.OperationalError" % (what, type(e).__name__, str(e)))
    fail("%s: %s %r gave no error, expected one saying %r" % (what, sql, args, wants))


def run_queue(db, n, what):
    """vg_queue_run's summary: it reports failed items, it does not raise."""
    try:
        out = one(db, "SELECT vg_queue_run(?)", (n,))
    except sqlite3.Error as e:
        messages.append(str(e))
        fail("%s: vg_queue_run(%d) raised %r; failing items belong in its summary" % (what, n, str(e)))
    messages.append(out)
    return json.loads(out)


def expect_summary(s, what, **want):
    got = {k: s.get(k) for k in want}
    check(got == want, "%s: vg_queue_run's summary has %s, expected %s (summary: %s)" % (what, got, want, s))


# ---- the spec ----------------------------------------------------------------

def check_spec(db, srv):
    srv.reset()
    d = load(db, "oa", spec(srv.port))
    want = {"name": "oa", "kind": "openai", "dims": DIMS, "max_tokens": 512, "url": "http://127.0.0.1:%d/v1" % srv.port,
            "model": "m1", "batch": 64, "timeout_ms": 30000, "retries": 3}
    for k, v in want.items():
        check(d.get(k) == v, "vg_model_load's description has %s = %r, expected %r (description: %s)"
              % (k, d.get(k), v, d))
    # Every bound of every range is accepted, and described as given.
    lo = dict(dims=1, batch=1, timeout_ms=1, retries=0, backoff_ms=0, max_tokens=1)
    hi = dict(dims=16384, batch=2048, timeout_ms=600000, retries=10, backoff_ms=30000, max_tokens=100000)
    for name, kw in (("edge_lo", lo), ("edge_hi", hi)):
        d = load(db, name, spec(srv.port, **kw))
        for k, v in kw.items():
            if k == "backoff_ms" and k not in d:  # the description need not list it
                continue
            check(d.get(k) == v, "%s: the description has %s = %r, expected %r (%s)" % (name, k, d.get(k), v, d))
    d = load(db, "tls", spec(srv.port, url="https://api.example.invalid/v1"))
    check(d.get("url") == "https://api.example.invalid/v1", "an https url is described as %r" % d.get("url"))
    load(db, "nokey", spec(srv.port, api_key_env=None))
    check(srv.stats()["requests"] == 0, "vg_model_load contacted the service (%d requests); it must not"
          % srv.stats()["requests"])
    # Refusals, each naming what is wrong.
    os.environ["VG_TEST_EMPTY_KEY"] = ""
    os.environ.pop("VG_TEST_UNSET_KEY", None)
    bad = [
        (dict(provider=None), ["provider"]), (dict(provider="cohere"), ["provider"]),
        (dict(url=None), ["url"]), (dict(url="ftp://127.0.0.1/v1"), ["url"]), (dict(url="127.0.0.1/v1"), ["url"]),
        (dict(model=None), ["model"]), (dict(model=5), ["model"]),
        (dict(dims=None), ["dims"]), (dict(dims=0), ["dims"]), (dict(dims=16385), ["dims"]),
        (dict(batch=0), ["batch"]), (dict(batch=2049), ["batch"]),
        (dict(timeout_ms=0), ["timeout_ms"]), (dict(timeout_ms=600001), ["timeout_ms"]),
        (dict(retries=-1), ["retries"]), (dict(retries=11), ["retries"]),
        (dict(backoff_ms=-1), ["backoff_ms"]), (dict(backoff_ms=30001), ["backoff_ms"]),
        (dict(max_tokens=0), ["max_tokens"]), (dict(max_tokens=100001), ["max_tokens"]),
        (dict(colour="blue"), ["colour"]),
        (dict(api_key=KEY), ["api_key_env", "api_key_file"]),
        (dict(api_key=KEY, api_key_env=None), ["api_key_env", "api_key_file"]),
        (dict(api_key_env="VG_TEST_UNSET_KEY"), ["VG_TEST_UNSET_KEY"]),
        (dict(api_key_env="VG_TEST_EMPTY_KEY"), ["VG_TEST_EMPTY_KEY"]),
        (dict(api_key_env=None, api_key_file=os.path.join(tempfile.gettempdir(), "vg-no-such-key-file-%s"
                                                          % secrets.token_hex(4))), []),
    ]
    for kw, wants in bad:
        s = spec(srv.port, **kw)
        msg = expect_error(db, "SELECT vg_model_load('bad', ?)", (s,), "vg_model_load: ", wants, "spec %s" % s)
        check(KEY not in msg, "refusing %s, the error %r repeats the api_key given" % (s, msg))
    expect_error(db, "SELECT vg_model_load('bad', ?)", ('{"provider": "openai", "url": ',), "vg_model_load: ", [],
                 "a spec that is not valid JSON")
    ms = models(db)
    names = sorted(m.get("name") for m in ms)
    check(names == ["edge_hi", "edge_lo", "nokey", "oa", "tls"],
          "vg_models() names %s, expected the five loaded (and no refused 'bad')" % names)
    oa = [m for m in ms if m.get("name") == "oa"][0]
    for k, v in want.items():
        check(oa.get(k) == v, "vg_models() describes oa with %s = %r, expected %r" % (k, oa.get(k), v))
    check(srv.stats()["requests"] == 0, "vg_model_load or vg_models contacted the service")
    return len(bad)


# ---- requests and vectors ----------------------------------------------------

def check_requests(db, srv):
    # Unicode, and characters JSON must escape.
    texts = ["The patient had a fever.", "Café – 東京 🎉 naïve", 'say "hi" \\ back\nslash\ttab\x01 end']
    srv.reset()
    for t in texts:
        embed(db, t, "oa", "vg_embed")
    st = srv.stats()
    check(st["requests"] == len(texts), "vg_embed of %d texts made %d requests" % (len(texts), st["requests"]))
    check(st["inputs"] == [[t] for t in texts],
          "the service received the inputs %r, expected %r (the body's JSON: the texts, escaped)"
          % (st["inputs"], [[t] for t in texts]))
    check(set(st["paths"]) == {"/v1/embeddings"}, "requests went to %s, expected {url}/embeddings = /v1/embeddings"
          % st["paths"])
    check(set(st["models"]) == {"m1"}, "the bodies named the models %s, expected \"m1\"" % st["models"])
    check(set(st["authorization"]) == {"Bearer " + KEY},
          "the Authorization headers were %s, expected \"Bearer \" and the value of $%s"
          % (["<the key>" if a and KEY in a else a for a in st["authorization"]], ENV))
    check(all((c or "").split(";")[0].strip() == "application/json" for c in st["content_types"]),
          "the Content-Type headers were %s, expected application/json" % st["content_types"])
    # NULL is NULL, asking nothing.
    check(one(db, "SELECT vg_embed(NULL, 'oa') IS NULL") == 1, "vg_embed(NULL, 'oa') is not NULL")
    check(srv.stats()["requests"] == len(texts), "vg_embed(NULL, 'oa') contacted the service")
    # No key: no Authorization header.
    srv.reset()
    embed(db, "no key here", "nokey", "a model without a key")
    st = srv.stats()
    check(st["authorization"] == [None], "a model loaded without api_key_env or api_key_file sent Authorization "
          "headers %s, expected none" % ["<the key>" if a and KEY in a else a for a in st["authorization"]])
    # A deeper base path: the request goes under it.
    load(db, "deep", spec(srv.port, url="http://127.0.0.1:%d/api/openai/v1" % srv.port))
    srv.reset()
    embed(db, "deep path", "deep", "a url with a longer path")
    check(srv.stats()["paths"] == ["/api/openai/v1/embeddings"], "url .../api/openai/v1: the request went to %s"
          % srv.stats()["paths"])
    # The service never gets more than max_tokens words: a longer text is
    # refused (no request) or cut to its first max_tokens words.
    load(db, "mt", spec(srv.port, max_tokens=3))
    srv.reset()
    embed(db, "one two three", "mt", "a text of max_tokens words")
    try:
        blob = one(db, "SELECT vg_embed('one  two three four five', 'mt')")
    except sqlite3.OperationalError as e:
        msg = str(e)
        messages.append(msg)
        check(msg.startswith("vg_embed: "), "a text over max_tokens: the error %r does not start with vg_embed: "
              % msg)
        names_model(msg, "mt", "a text over max_tokens")
        check(srv.stats()["inputs"] == [["one two three"]], "a text over max_tokens was refused, but the service "
              "received %s, expected only the text within it" % srv.stats()["inputs"])
    else:
        got = srv.stats()["inputs"][1:]
        check(len(got) == 1 and len(got[0]) == 1 and got[0][0].split() == ["one", "two", "three"],
              "a text of 5 words with max_tokens 3: the service received %s, expected it refused or cut to its "
              "first 3 words" % got)
        same_vector(blob, got[0][0], "a text cut at max_tokens")


# ---- failures ----------------------------------------------------------------

def check_failures(db, srv):
    load(db, "oa", spec(srv.port, retries=RETRIES, timeout_ms=TIMEOUT_MS, backoff_ms=BACKOFF_MS))
    n = [0]

    def text():
        n[0] += 1
        return "failure case %d" % n[0]

    def fails(mode, count, **kw):
        srv.control(mode, count, **kw)
        srv.reset()

    def requests(want, what):
        got = srv.stats()["requests"]
        check(got == want, "%s: the service saw %d requests, expected %d" % (what, got, want))

    def error(what, wants, model="oa"):
        msg = expect_error(db, "SELECT vg_embed(?, ?)", (text(), model), "vg_embed: ", wants, what)
        names_model(msg, model, what)
        srv.control("ok")
        return msg

    # Transient failures are retried `retries` times; a recovery within them is a success.
    for mode in ("500", "close", "timeout"):
        fails(mode, RETRIES)
        embed(db, text(), "oa", "%s %d times, then ok" % (mode, RETRIES))
        requests(RETRIES + 1, "%s %d times, then ok (retries %d)" % (mode, RETRIES, RETRIES))
    fails("500", -1)
    error("500 every time", ["HTTP 500"])
    requests(RETRIES + 1, "500 every time (retries %d)" % RETRIES)
    fails("close", -1)
    error("the connection closed every time", [])
    # A client library may itself resend once when a kept-alive connection
    # turns out closed (curl does): one request more is allowed here.
    got = srv.stats()["requests"]
    check(got in (RETRIES + 1, RETRIES + 2), "the connection closed every time (retries %d): the service saw %d "
          "requests, expected %d" % (RETRIES, got, RETRIES + 1))
    # The service answers after 5 s; the client gives up after timeout_ms,
    # well before: 3 attempts of 0.5 s, not of 5.
    fails("timeout", -1, delay=5)
    t0 = time.monotonic()
    error("a timeout every time", ["timed out"])
    took = time.monotonic() - t0
    check(took < 4.0, "a timeout every time took %.1f s: timeout_ms %d is not applied to each attempt"
          % (took, TIMEOUT_MS))
    requests(RETRIES + 1, "a timeout every time (retries %d)" % RETRIES)
    # 429 waits Retry-After (backoff_ms is 10 ms: the wait can only be it).
    fails("429", 1, retry_after=1)
    t0 = time.monotonic()
    embed(db, text(), "oa", "429 with Retry-After: 1, then ok")
    took = time.monotonic() - t0
    check(took >= 0.9, "429 with Retry-After: 1: the retry came after %.2f s, expected at least 1 s" % took)
    requests(2, "429 with Retry-After: 1, then ok")
    # Other 4xx: no retry, the service's message kept, the key scrubbed from it.
    fails("401_echo_key", -1)
    msg = error("401 echoing the Authorization header", ["HTTP 401", "invalid key"])
    check(KEY not in msg, "the 401 error repeats the key: %r" % msg.replace(KEY, "<THE KEY>"))
    requests(1, "401 (no retry)")
    fails("400", -1)
    error("400", ["HTTP 400", "bad request (injected)"])
    requests(1, "400 (no retry)")
    # Answers that cannot be used.
    fails("wrong_dims", -1)
    error("5 values for a model of 8", ["dimension"])
    requests(1, "a wrong dimension (no retry)")
    fails("malformed", -1)
    error("an answer cut off mid-JSON", ["not valid JSON"])
    fails("short_batch", -1)
    error("no embedding for the one text sent", ["embeddings for"])
    # Backoff: backoff_ms, doubled, times 0.5 to 1.  Lower bounds only (a busy
    # machine is slower, never faster); the loose upper bounds catch a delay
    # read as seconds.
    load(db, "slow", spec(srv.port, retries=2, timeout_ms=TIMEOUT_MS, backoff_ms=400))
    fails("500", -1)
    error("500 every time with backoff_ms 400", ["HTTP 500"], model="slow")
    times = srv.stats()["times"]
    check(len(times) == 3, "500 every time with retries 2: %d requests, expected 3" % len(times))
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(0.19 <= gaps[0] <= 2.5 and 0.39 <= gaps[1] <= 3.5,
          "backoff_ms 400: retries came %.3f s and %.3f s after the attempt before, expected 0.2-0.4 s and "
          "0.4-0.8 s" % tuple(gaps))
    load(db, "once", spec(srv.port, retries=0, timeout_ms=TIMEOUT_MS))
    fails("500", -1)
    error("500 with retries 0", ["HTTP 500"], model="once")
    requests(1, "retries 0")
    return n[0]


# ---- the pipeline ------------------------------------------------------------

LONG = "one two three four five six seven"
TEXTS = {
    "id1": "apples and pears in the orchard",
    "id2": "the harvest came early this year",
    "id3": "a short memo about ladders",
    "id4": "rain is expected over the hills",
    "id5": "the library opens late on weekends",
    "id6": "bring a coat and an umbrella",
    "id7": "green tea tastes better without sugar",
    "id8": "the bridge is closed for repairs",
    "id9": "owls hunt at night in the forest",
    "id10": "paint the fence before the winter",
    "id11": "the kettle whistles when it boils",
    "id12": "sailing needs a steady wind",
    "id20": "a note written from another connection",
}


def ingest(db, cid, text=None, table="docs"):
    return one(db, "SELECT vg_ingest(?, '', 'note', ?, ?)", (table, cid, text or TEXTS[cid]))


def check_rows(db, cids, what):
    rows = {r[0]: r for r in db.execute("SELECT content_id, chunk_index, content, embedding FROM docs").fetchall()}
    for cid in cids:
        check(cid in rows, "%s: no row for %s in docs (rows: %s)" % (what, cid, sorted(rows)))
        _, ci, content, blob = rows[cid]
        check(ci == 0 and content == TEXTS[cid], "%s: %s is stored as chunk %r, %r; expected chunk 0, %r (texts are "
              "short and hold no personal data)" % (what, cid, ci, content, TEXTS[cid]))
        same_vector(blob, TEXTS[cid], "%s: the stored vector of %s" % (what, cid))


def queue_rows(db, cids):
    q = "SELECT content_id, status, attempts, last_error FROM vg_queue WHERE content_id IN (%s)" % \
        ",".join("?" * len(cids))
    rows = {r[0]: r[1:] for r in db.execute(q, cids).fetchall()}
    messages.extend(r[2] for r in rows.values() if r[2])
    return rows


def failed_kept(db, cids, wants, what):
    """The items failed, are kept for a retry, and say why."""
    rows = queue_rows(db, cids)
    for cid in cids:
        status, attempts, err = rows.get(cid, (None, None, None))
        check(status == "failed" and attempts == 1,
              "%s: %s is %s after %s attempts, expected failed after 1" % (what, cid, status, attempts))
        for w in wants:
            check(w.lower() in (err or "").lower(), "%s: the last_error of %s, %r, does not say %r" % (what, cid, err, w))
        names_model(err or "", "oa", "%s: the last_error of %s" % (what, cid))


def check_pipeline(db, srv, dbpath):
    one(db, "PRAGMA journal_mode=WAL")
    one(db, "SELECT vg_pii_set_key(zeroblob(32))")
    one(db, "SELECT vg_queue_clock(1000)")  # failed items come back 15 to 30 s later: jump there
    load(db, "oa", spec(srv.port, batch=3, retries=RETRIES, timeout_ms=TIMEOUT_MS, backoff_ms=BACKOFF_MS))
    db.execute("CREATE VIRTUAL TABLE docs USING vg_hnsw(embedding float[%d] distance_metric=cosine, "
               "content_id text, chunk_index integer, content text)" % DIMS)
    db.execute("CREATE VIRTUAL TABLE small USING vg_hnsw(embedding float[4], content text)")
    expect_error(db, "SELECT vg_configure('small', '{\"model\": \"oa\"}')", (), "vg_configure: ", ["dimension"],
                 "binding a table of 4 dimensions to a model of 8")
    cfg = json.loads(one(db, "SELECT vg_configure('docs', '{\"model\": \"oa\"}')"))
    check(cfg.get("model") == "oa" and cfg.get("dims") == DIMS and cfg.get("chunk_tokens") == 512,
          "vg_configure('docs', {\"model\": \"oa\"}) gave %s, expected model oa, dims %d and chunk_tokens 512 "
          "(the model's max_tokens)" % (cfg, DIMS))

    # Seven items, batch 3: requests of at most 3 texts, each text once.
    batch1 = ["id%d" % i for i in range(1, 8)]
    for cid in batch1:
        ingest(db, cid)
    srv.reset()
    s = run_queue(db, 100, "seven items")
    expect_summary(s, "seven items", claimed=7, done=7, failed=0, chunks=7)
    st = srv.stats()
    sizes = st["batch_sizes"]
    check(sizes and all(isinstance(b, int) for b in sizes) and max(sizes) == 3 and sum(sizes) == 7,
          "seven items with batch 3: the service saw batches of %s, expected at most 3 texts each (and some of 3), "
          "7 in all" % sizes)
    check(sorted(t for b in st["inputs"] for t in b) == sorted(TEXTS[c] for c in batch1),
          "seven items: the service received %s" % st["inputs"])
    check(set(st["authorization"]) == {"Bearer " + KEY}, "the pipeline's requests did not all carry Bearer <key>")
    check_rows(db, batch1, "seven items")
    # vg_search embeds its query with the table's model.
    srv.reset()
    hits = db.execute("SELECT rank, content_id, similarity FROM vg_search('docs', '', ?, 3)", (TEXTS["id3"],)).fetchall()
    check(hits and hits[0][1] == "id3" and abs(hits[0][2] - 1) < 1e-5,
          "vg_search for id3's own text found %s, expected id3 first with similarity 1" % hits)
    check(srv.stats()["inputs"] == [[TEXTS["id3"]]], "vg_search sent %s to the service, expected its query"
          % srv.stats()["inputs"])

    # Chunks: a model of max_tokens 3 makes the table's chunks 3 words long.
    load(db, "mt", spec(srv.port, max_tokens=3))
    db.execute("CREATE VIRTUAL TABLE longdocs USING vg_hnsw(embedding float[%d], content_id text, "
               "chunk_index integer, content text)" % DIMS)
    cfg = json.loads(one(db, "SELECT vg_configure('longdocs', '{\"model\": \"mt\"}')"))
    check(cfg.get("chunk_tokens") == 3, "a table bound to a model of max_tokens 3 has chunk_tokens %r, expected 3"
          % cfg.get("chunk_tokens"))
    expect_error(db, "SELECT vg_configure('longdocs', '{\"chunk_tokens\": 4}')", (), "vg_configure: ",
                 ["chunk_tokens"], "chunk_tokens over the model's max_tokens")
    ingest(db, "long1", LONG, "longdocs")
    srv.reset()
    chunks = [r[0] for r in db.execute("SELECT text FROM vg_chunk(?, 3, ?) ORDER BY chunk_index",
                                       (LONG, cfg.get("chunk_overlap", 0))).fetchall()]
    s = run_queue(db, 10, "a text of 7 words, max_tokens 3")
    expect_summary(s, "a text of 7 words, max_tokens 3", done=1, failed=0, chunks=len(chunks))
    got = db.execute("SELECT chunk_index, content, embedding FROM longdocs ORDER BY chunk_index").fetchall()
    check([r[1] for r in got] == chunks, "max_tokens 3: the chunks stored are %s, expected %s"
          % ([r[1] for r in got], chunks))
    for _, c, blob in got:
        same_vector(blob, c, "max_tokens 3: a chunk's vector")
    check(all(len(t.split()) <= 3 for b in srv.stats()["inputs"] for t in b),
          "max_tokens 3: the service received %s" % srv.stats()["inputs"])

    # The service down: vg_embed says so; the items fail, are kept, and are
    # done once it is back and their retry time has come.
    down = ["id8", "id9", "id10"]
    for cid in down:
        ingest(db, cid)
    port = srv.port
    srv.stop()
    msg = expect_error(db, "SELECT vg_embed('is anyone there', 'oa')", (), "vg_embed: ", [], "the service down")
    check("could not reach" in msg.lower() and "127.0.0.1:%d" % port in msg,
          "the service down: the error %r does not say it could not reach 127.0.0.1:%d" % (msg, port))
    names_model(msg, "oa", "the service down")
    s = run_queue(db, 100, "the service down")
    expect_summary(s, "the service down", claimed=3, done=0, failed=3)
    check(len(s.get("errors", [])) == 3, "the service down: the summary lists %d errors, expected 3" %
          len(s.get("errors", [])))
    for e in s["errors"]:
        names_model(e.get("error", ""), "oa", "the service down: a summary's error")
    failed_kept(db, down, ["could not reach"], "the service down")
    srv = Server(port)  # back, on the port the model names
    s = run_queue(db, 100, "the service back, before the retry time")
    expect_summary(s, "the service back, before the retry time", claimed=0)
    one(db, "SELECT vg_queue_clock(1100)")
    s = run_queue(db, 100, "the service back, after the retry time")
    expect_summary(s, "the service back, after the retry time", claimed=3, done=3, failed=0)
    check_rows(db, down, "the service back")

    # The service failing: 401 (echoing the key) and 500 every time.
    for cid, mode, says, clock in (("id11", "401_echo_key", "HTTP 401", 1200), ("id12", "500", "HTTP 500", 1300)):
        ingest(db, cid)
        srv.control(mode, -1)
        s = run_queue(db, 100, mode)
        expect_summary(s, "%s every time" % mode, claimed=1, done=0, failed=1)
        failed_kept(db, [cid], [says], "%s every time" % mode)
        check(all(KEY not in e.get("error", "") for e in s["errors"]), "%s: the summary's error repeats the key" % mode)
        srv.control("ok")
        one(db, "SELECT vg_queue_clock(?)", (clock,))
        s = run_queue(db, 100, "%s, then ok" % mode)
        expect_summary(s, "%s, then ok" % mode, claimed=1, done=1, failed=0)
        check_rows(db, [cid], "%s, then ok" % mode)

    # Another connection that has not loaded "oa": it enqueues, but does not
    # claim what it cannot embed.
    db2 = connect(dbpath)
    try:
        one(db2, "SELECT vg_pii_set_key(zeroblob(32))")
        one(db2, "SELECT vg_queue_clock(1300)")
        try:
            ingest(db2, "id20")
        except sqlite3.Error as e:
            messages.append(str(e))
            fail("vg_ingest on a connection that has not loaded the table's model failed (%s); it must enqueue" % e)
        srv.reset()
        msg = expect_error(db2, "SELECT vg_queue_run(10)", (), "vg_queue_run: ", ["vg_model_load"],
                           "vg_queue_run on a connection that has not loaded the table's model")
        names_model(msg, "oa", "vg_queue_run without the model")
        status, attempts, _ = queue_rows(db2, ["id20"]).get("id20", (None, None, None))
        check(status == "pending" and attempts == 0, "vg_queue_run without the model left id20 %s after %s attempts, "
              "expected pending with 0 (not claimed)" % (status, attempts))
        check(srv.stats()["requests"] == 0, "vg_queue_run without the model contacted the service")
    finally:
        db2.close()
    s = run_queue(db, 100, "the connection with the model")
    expect_summary(s, "the connection with the model, after another's vg_ingest", claimed=1, done=1, failed=0)
    check_rows(db, ["id20"], "the item another connection enqueued")
    return srv


def check_key_file(db, srv, root):
    path = os.path.join(root, "key.txt")
    with open(path, "w") as f:
        f.write(FILE_KEY + "\nnot the key\n")
    d = load(db, "of", spec(srv.port, api_key_env=None, api_key_file=path, retries=0))
    srv.reset()
    embed(db, "a key from a file", "of", "api_key_file")
    auth = srv.stats()["authorization"]
    check(auth == ["Bearer " + FILE_KEY], "api_key_file: the service saw Authorization %s, expected \"Bearer \" and "
          "the file's first line" % ["<the key>" if a and FILE_KEY in a else a for a in auth])
    srv.control("401_echo_key", -1)
    msg = expect_error(db, "SELECT vg_embed('x', 'of')", (), "vg_embed: ", ["HTTP 401"], "401 with api_key_file")
    check(FILE_KEY not in msg, "the 401 error repeats the key read from api_key_file")
    srv.control("ok")
    return d


def check_hard_cases(root, srv):
    """Keys a naive scrub gets wrong, a service down for a whole run, and a
    url that names the endpoint itself."""
    db = connect(os.path.join(root, "hard.db"))
    try:
        # A key that "[key]" itself holds: the scrub must end.  A key longer
        # than the part of the service's message kept: no piece of it left.
        for env, key in (("VG_TEST_KEY_SHORT", "key"), ("VG_TEST_KEY_LONG", "vglong-" + secrets.token_hex(200))):
            os.environ[env] = key
            try:
                load(db, "hk", spec(srv.port, api_key_env=env, retries=0))
                srv.control("401_echo_key", -1)
                t = time.monotonic()
                try:
                    db.execute("SELECT vg_embed('x', 'hk')").fetchall()
                    fail("a 401 with a key of %d bytes gave no error" % len(key))
                except sqlite3.OperationalError as e:
                    msg = str(e)
                srv.control("ok")
                check(time.monotonic() - t < 10, "the 401 with a key of %d bytes took %.1f s" % (len(key),
                                                                                              time.monotonic() - t))
                check("HTTP 401" in msg, "a key of %d bytes: the error %r does not say HTTP 401" % (len(key), msg))
                check("Bearer " + key not in msg, "the error repeats the key \"key\"" if len(key) < 8 else
                      "the error repeats the long key")
                pieces = [key[i:i + 12] for i in range(0, max(1, len(key) - 12))] if len(key) > 12 else []
                check(not any(p in msg for p in pieces), "the error holds a piece of the long key")
            finally:
                del os.environ[env]
        # The service down for a whole run: the first batch's retries, then
        # every later batch of the model fails at once with its error (not
        # each item tried alone, each with its retries).
        load(db, "down", spec(srv.port, batch=3, retries=RETRIES, backoff_ms=BACKOFF_MS, timeout_ms=TIMEOUT_MS))
        one(db, "SELECT vg_pii_set_key(zeroblob(32))")
        db.execute("CREATE VIRTUAL TABLE storm USING vg_hnsw(embedding float[%d], content_id text, +content text)"
                   % DIMS)
        one(db, "SELECT vg_configure('storm', '{\"model\": \"down\"}')")
        for i in range(10):
            one(db, "SELECT vg_ingest('storm', '', 'note', ?, 'a note')", ("s%d" % i,))
        srv.reset()
        srv.control("500", -1)
        s = run_queue(db, 100, "the service answering 500 to a run of 10 items in batches of 3")
        srv.control("ok")
        expect_summary(s, "500 to a whole run", claimed=10, failed=10, done=0)
        check(all("HTTP 500" in e["error"] for e in s["errors"]), "500 to a whole run: errors %s" % s["errors"])
        got = srv.stats()["requests"]
        check(got == RETRIES + 1, "500 to a whole run of 10 items: the service saw %d requests, expected %d (the first "
              "batch's attempts only)" % (got, RETRIES + 1))
        # A url that already ends in /embeddings is the endpoint.
        load(db, "ep", spec(srv.port, url="http://127.0.0.1:%d/v1/embeddings" % srv.port))
        srv.reset()
        embed(db, "the endpoint given", "ep", "a url ending in /embeddings")
        check(srv.stats()["paths"] == ["/v1/embeddings"], "a url ending in /embeddings: requests went to %s"
              % srv.stats()["paths"])
        # Credentials and a query string in the url: the request carries them
        # ({url}/embeddings before the query), messages and vg_models mask them.
        url = "http://user:pw-%s@127.0.0.1:%d/v1?api-version=2024-02" % (secrets.token_hex(4), srv.port)
        d = load(db, "az", spec(srv.port, url=url, retries=0))
        check(d["url"] == "http://[credentials]@127.0.0.1:%d/v1?[query]" % srv.port, "vg_models shows the url %r"
              % d["url"])
        srv.reset()
        embed(db, "a url with a query", "az", "a url with credentials and a query")
        st = srv.stats()
        check(st["paths"] == ["/v1/embeddings"] and st["queries"] == ["api-version=2024-02"],
              "a url with a query: the request went to %s ? %s" % (st["paths"], st["queries"]))
        srv.control("500", -1)
        msg = expect_error(db, "SELECT vg_embed('x', 'az')", (), "vg_embed: ", ["HTTP 500", "[credentials]@", "?[query]"],
                           "a url with credentials and a query, failing")
        srv.control("ok")
        check("pw-" not in msg and "api-version" not in msg, "the error shows the url's secrets: %r" % msg)
    finally:
        db.close()


def main():
    # A client that ignores its timeouts would hang the test: give up with a
    # traceback instead (the servers exit when this process's pipes close).
    faulthandler.dump_traceback_later(180, exit=True)
    os.environ[ENV] = KEY  # read with getenv by the extension, in this process
    for v in ("no_proxy", "NO_PROXY"):
        os.environ[v] = ",".join(x for x in (os.environ.get(v), "127.0.0.1", "localhost") if x)
    root = tempfile.mkdtemp(prefix="vg_service_")
    dbpath = os.path.join(root, "service.db")
    t0 = time.monotonic()
    try:
        srv = Server()
        mem = connect(":memory:")
        nBad = check_spec(mem, srv)
        check_requests(mem, srv)
        nFail = check_failures(mem, srv)
        check_key_file(mem, srv, root)
        check_hard_cases(root, srv)
        models(mem)
        mem.close()
        db = connect(dbpath)
        srv = check_pipeline(db, srv, dbpath)
        check(srv.stats()["requests"] > 0, "the restarted service saw no requests")
        models(db)
        db.close()
        # The keys nowhere: errors, descriptions, summaries, queue rows, the
        # file (and any WAL left), and the services' output.
        for s in servers:
            s.stop()
        for m in messages:
            check(KEY not in m and FILE_KEY not in m, "a key appears in %r" % m.replace(KEY, "<THE KEY>")
                  .replace(FILE_KEY, "<THE FILE KEY>"))
        nBytes = 0
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(dbpath + suffix):
                raw = open(dbpath + suffix, "rb").read()
                nBytes += len(raw)
                check(KEY.encode() not in raw and FILE_KEY.encode() not in raw,
                      "a key is in the database file %s" % (dbpath + suffix))
        for s in servers:
            check(KEY.encode() not in s.output and FILE_KEY.encode() not in s.output,
                  "a key is in embed_server.py's output")
        print("test_service: %d checks passed in %.1f s: the spec (%d refusals), requests and vectors, %d failure "
              "cases, the pipeline (batches, chunks, the service down and failing, a connection without the model), "
              "the keys in none of %d messages, %d bytes of database or the service's output"
              % (nChecks[0], time.monotonic() - t0, nBad, nFail, len(messages), nBytes))
        return 0
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
