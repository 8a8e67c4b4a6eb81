#!/usr/bin/python3
"""embed_server.py — a local OpenAI-compatible embeddings service for tests,
which fails on request (Python's standard library only).

    embed_server.py --port 0 --dims N [--exit-on-eof]

prints the port it listens on (127.0.0.1) as the first line of its standard
output, then serves until killed (or, with --exit-on-eof, until its standard
input closes, so that it cannot outlive a test that died).  It prints nothing
else, and never a request's headers.

POST <any prefix>/embeddings   {"model": "...", "input": ["text", ...]} (or one
    string) -> {"object": "list", "data": [{"object": "embedding", "index": i,
    "embedding": [...]}, ...], "model": ..., "usage": ...}.  data comes in
    reverse order (each entry with its right index), so a client that does
    not sort by index gets the vectors backwards.  A text's vector is
    vector(text, N), below: tests import it.

POST /control   {"mode": M, "count": k, "retry_after": s, "delay": s}: the
    next k embeddings requests (default 1; -1: all until the next /control)
    fail as M says, then the service is back to "ok":
      ok            answer normally
      500           HTTP 500 with an OpenAI-style error body
      429           HTTP 429 with Retry-After: retry_after (default 1)
      400           HTTP 400 with an error body
      401_echo_key  HTTP 401, {"error": {"message": "invalid key <the
                    Authorization header as received>"}}, as services that
                    echo what they got do (the client must scrub it)
      timeout       answer normally after delay seconds (default 5): longer
                    than the client waits
      close         close the connection without answering
      wrong_dims    vectors of N - 3 values (N + 1 when N <= 3)
      malformed     HTTP 200, application/json, a body cut off mid-JSON
      short_batch   one embedding fewer than there are inputs
POST /reset     forget the requests seen (the mode is left as it is)
GET /stats      the embeddings requests seen, in arrival order:
    {"requests": n, "batch_sizes": [...], "inputs": [[...], ...],
     "authorization": [header or null, ...], "content_types": [...],
     "paths": [...], "queries": [...], "models": [...], "modes": [...], "times": [...]}
    (batch_sizes is null for a body that was not JSON with an input list;
    modes is the failure each request got; times are time.monotonic()).
"""
import argparse, hashlib, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "500", "429", "400", "401_echo_key", "timeout", "close", "wrong_dims", "malformed", "short_batch")


def vector(text, dims):
    """dims values in [-1, 1) from SHA-256 of a block number and the text's
    UTF-8.  Each is a 24-bit integer over 2^23, minus 1: exact in float32,
    so that a float32 client keeps it exactly."""
    out, block = [], 0
    raw = text.encode("utf-8", "surrogatepass")
    while len(out) < dims:
        h = hashlib.sha256(b"%d\0" % block + raw).digest()
        out += [int.from_bytes(h[j:j + 3], "little") / 2 ** 23 - 1 for j in range(0, 30, 3)]
        block += 1
    return out[:dims]


class State:
    def __init__(self, dims):
        self.dims = dims
        self.lock = threading.Lock()
        self.mode, self.left, self.retry_after, self.delay = "ok", 0, 1, 5.0
        self.seen = []

    def take(self):
        """The failure the next request gets, counted off."""
        with self.lock:
            if self.left == 0:
                return "ok"
            if self.left > 0:
                self.left -= 1
            return self.mode


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real services do
    timeout = 60                   # an idle kept-alive connection is closed after it
    state = None                   # set by main()

    def log_message(self, *args):  # nothing on stderr per request
        pass

    def send_json(self, status, obj, headers=(), raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        st = self.state
        if self.path.split("?")[0] != "/stats":
            return self.send_json(404, {"error": {"message": "no such path: %s" % self.path}})
        with st.lock:
            seen = list(st.seen)
        self.send_json(200, {
            "requests": len(seen),
            "batch_sizes": [r["n"] for r in seen],
            "inputs": [r["inputs"] for r in seen],
            "authorization": [r["auth"] for r in seen],
            "content_types": [r["ctype"] for r in seen],
            "paths": [r["path"] for r in seen],
            "queries": [r["query"] for r in seen],
            "models": [r["model"] for r in seen],
            "modes": [r["mode"] for r in seen],
            "times": [r["time"] for r in seen],
        })

    def do_POST(self):
        try:
            self.post()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout): nothing to answer to.
            self.close_connection = True

    def post(self):
        st = self.state
        path = self.path.split("?")[0]
        body = self.read_body()
        if path == "/control":
            try:
                c = json.loads(body or b"{}")
                assert c.get("mode", "ok") in MODES, "unknown mode %r" % c.get("mode")
            except (ValueError, AssertionError) as e:
                return self.send_json(400, {"error": {"message": "bad control: %s" % e}})
            with st.lock:
                st.mode = c.get("mode", "ok")
                st.left = 0 if st.mode == "ok" else int(c.get("count", 1))
                st.retry_after = c.get("retry_after", 1)
                st.delay = float(c.get("delay", 5.0))
            return self.send_json(200, {"ok": True})
        if path == "/reset":
            with st.lock:
                st.seen = []
            return self.send_json(200, {"ok": True})
        if not path.endswith("/embeddings"):
            return self.send_json(404, {"error": {"message": "no such path: %s" % path}})
        # Record the request before anything can fail.
        try:
            req = json.loads(body)
            inputs = req.get("input") if isinstance(req, dict) else None
            if isinstance(inputs, str):
                inputs = [inputs]
            if not (isinstance(inputs, list) and all(isinstance(t, str) for t in inputs)):
                inputs = None
            model = req.get("model") if isinstance(req, dict) else None
        except ValueError:
            inputs, model = None, None
        mode = st.take()
        with st.lock:
            st.seen.append({"n": None if inputs is None else len(inputs), "inputs": inputs,
                            "auth": self.headers.get("Authorization"), "ctype": self.headers.get("Content-Type"),
                            "path": path, "query": self.path.partition("?")[2], "model": model, "mode": mode,
                            "time": time.monotonic()})
        if inputs is None:
            return self.send_json(400, {"error": {"message": "the body must be JSON with \"input\": a list of strings",
                                                  "type": "invalid_request_error"}})
        if mode == "500":
            return self.send_json(500, {"error": {"message": "internal error (injected)", "type": "server_error"}})
        if mode == "429":
            return self.send_json(429, {"error": {"message": "rate limit reached (injected)", "type": "rate_limit"}},
                                  headers=[("Retry-After", str(st.retry_after))])
        if mode == "400":
            return self.send_json(400, {"error": {"message": "bad request (injected)",
                                                  "type": "invalid_request_error"}})
        if mode == "401_echo_key":
            auth = self.headers.get("Authorization") or "<none>"
            return self.send_json(401, {"error": {"message": "invalid key %s" % auth, "type": "invalid_request_error",
                                                  "code": "invalid_api_key"}})
        if mode == "close":
            self.close_connection = True
            return
        if mode == "malformed":
            return self.send_json(200, None, raw=b'{"object": "list", "data": [{"object": "embedding", '
                                                 b'"index": 0, "embedding": [0.25, -0.5')
        if mode == "timeout":
            time.sleep(st.delay)
        dims = st.dims
        if mode == "wrong_dims":
            dims = dims - 3 if dims > 3 else dims + 1
        data = [{"object": "embedding", "index": i, "embedding": vector(t, st.dims)[:dims] + [0.5] * (dims - st.dims)}
                for i, t in enumerate(inputs)]
        if mode == "short_batch":
            data = data[:-1]
        words = sum(len(t.split()) for t in inputs)
        self.send_json(200, {"object": "list", "data": data[::-1], "model": model,
                             "usage": {"prompt_tokens": words, "total_tokens": words}})


def main():
    ap = argparse.ArgumentParser(description="a local OpenAI-compatible embeddings service for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dims", type=int, required=True)
    ap.add_argument("--exit-on-eof", action="store_true", help="exit when standard input closes")
    args = ap.parse_args()
    Handler.state = State(args.dims)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    if args.exit_on_eof:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
