"""An S3 endpoint for tests of vecguardd's S3 sync: s3rver 3.7.1 (from npm)
behind a proxy that checks every request's AWS Signature Version 4 the way
S3 does (s3rver checks none: a wrong secret still gets 200) and can inject
faults.

    import s3test
    try:
        s3 = s3test.S3Server(tmpdir)      # bucket "vgtest", region us-east-1
        s3.start()
    except s3test.Skip as e:
        print("SKIPPED: %s" % e); sys.exit(0)
    ... point the daemon at s3.endpoint / s3.bucket / s3.access_key / s3.secret_key
    s3.proxy.set_fault("status", status=503, count=2)
    assert s3.proxy.sig_failures() == []
    s3.list_keys("tenant/"); s3.get_object(k); s3.put_object(k, b"x")
    s3.stop()

Verifier scope: header-signed requests (Authorization: AWS4-HMAC-SHA256)
with a literal payload hash or UNSIGNED-PAYLOAD; presigned URLs and
STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies are refused (the daemon uses
neither). Every refusal is a 403 with an S3 XML error and is recorded.
"""
import sys

sys.dont_write_bytecode = True

import calendar  # noqa: E402
import collections  # noqa: E402
import fcntl  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import http.client  # noqa: E402
import http.server  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402
from xml.sax.saxutils import escape as _xml_escape  # noqa: E402

S3RVER_VERSION = "3.7.1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
MAX_SKEW = 15 * 60
HERE = os.path.dirname(os.path.abspath(__file__))
# Headers that belong to one hop, not to the request (RFC 9110 7.6.1), plus
# Expect: the proxy has already answered 100-continue and sends the body whole.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
              "te", "trailer", "transfer-encoding", "upgrade", "expect"}


class Skip(Exception):
    """The S3 test server cannot run here (no node/npm, install failed)."""


# ---------------------------------------------------------------- install

def _build_dir():
    b = os.environ.get("VG_BUILD")
    return b if b else os.path.join(HERE, "..", "..", "build")


def _install_works(prefix, node):
    try:
        with open(os.path.join(prefix, "node_modules", "s3rver", "package.json")) as f:
            if json.load(f).get("version") != S3RVER_VERSION:
                return False
        # --help loads the CLI and its dependencies: a half install fails here.
        r = subprocess.run([node, "--openssl-legacy-provider", os.path.join(prefix, "node_modules", ".bin", "s3rver"),
                            "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        return r.returncode == 0
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False


def install_s3rver():
    """Path of an s3rver 3.7.1 install (BUILD/npm-s3rver, BUILD being $VG_BUILD
    or the checkout's build/); installs it from the npm registry if needed.
    Raises Skip when node or npm is missing or the install fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise Skip("s3rver needs node and npm (Debian 12: apt-get install nodejs npm)")
    prefix = os.path.abspath(os.path.join(_build_dir(), "npm-s3rver"))
    try:
        os.makedirs(prefix, exist_ok=True)
    except OSError as e:
        raise Skip("cannot create %s: %s" % (prefix, e))
    # A lock: two tests starting at once must not run npm in one folder together.
    with open(os.path.join(prefix, ".install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _install_works(prefix, node):
            return prefix
        sys.stderr.write("s3test: installing s3rver@%s into %s\n" % (S3RVER_VERSION, prefix))
        # --ignore-scripts: s3rver and its dependencies are plain JavaScript, and no
        # install script may fetch anything from elsewhere than the npm registry.
        try:
            r = subprocess.run([npm, "install", "--prefix", prefix, "--no-save", "--no-package-lock", "--no-audit",
                                "--no-fund", "--ignore-scripts", "s3rver@" + S3RVER_VERSION],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Skip("npm install s3rver@%s failed: %s" % (S3RVER_VERSION, e))
        if r.returncode != 0:
            tail = r.stdout.decode("utf-8", "replace").strip().splitlines()[-5:]
            raise Skip("npm install s3rver@%s failed: %s" % (S3RVER_VERSION, " | ".join(tail)))
        if not _install_works(prefix, node):
            raise Skip("s3rver@%s installed in %s but does not run in node" % (S3RVER_VERSION, prefix))
        return prefix


# ---------------------------------------------------------------- SigV4

def uri_encode(s, keep_slash=False):
    """AWS UriEncode: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper hex)."""
    return urllib.parse.quote(s, safe="-_.~/" if keep_slash else "-_.~")


def canonical_uri(raw_path):
    # S3: decode what the client sent, encode each segment once (no double
    # encoding, no dot-segment normalisation).
    path = urllib.parse.unquote_to_bytes(raw_path or "/")
    return uri_encode(path, keep_slash=True) or "/"


def canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        if part == "":
            continue
        name, _, value = part.partition("=")
        # '+' is taken literally, as AWS signers encode a space as %20.
        pairs.append((uri_encode(urllib.parse.unquote_to_bytes(name)),
                      uri_encode(urllib.parse.unquote_to_bytes(value))))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def _trim(v):
    return re.sub(r"[ \t]+", " ", v.strip())


def canonical_request(method, target, headers, signed_headers, payload_hash):
    """target: path[?query] as on the request line; headers: {lowercase
    name: [values]}; signed_headers: lowercase names."""
    path, _, query = target.partition("?")
    lines = [method, canonical_uri(path), canonical_query(query)]
    for name in signed_headers:
        lines.append("%s:%s" % (name, ",".join(_trim(v) for v in headers.get(name, []))))
    lines += ["", ";".join(signed_headers), payload_hash]
    return "\n".join(lines)


def signing_key(secret, date, region, service="s3"):
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def string_to_sign(amz_date, scope, creq):
    return "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz_date, scope, hashlib.sha256(creq.encode()).hexdigest())


def signature(secret, amz_date, region, creq, service="s3"):
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    return hmac.new(signing_key(secret, amz_date[:8], region, service),
                    string_to_sign(amz_date, scope, creq).encode(), hashlib.sha256).hexdigest()


def _header_map(headers):
    m = {}
    for name, value in headers:
        m.setdefault(name.lower(), []).append(value)
    return m


def _parse_amz_date(s):
    try:
        return calendar.timegm(time.strptime(s, "%Y%m%dT%H%M%SZ"))
    except (ValueError, TypeError):
        return None


class AuthError(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, "%s: %s" % (code, message))
        self.code, self.message = code, message


def verify(method, target, headers, body, keys, region="us-east-1", now=None, max_skew=MAX_SKEW):
    """Check one request as S3 would; raise AuthError(code, message) if it
    fails. headers: (name, value) pairs; body: the bytes received (None:
    skip the body check); keys: {access key: secret}; now: epoch seconds
    (None: the clock; False: no clock check)."""
    h = _header_map(headers)
    if "x-amz-signature" in target.lower() or "x-amz-credential" in target.lower():
        raise AuthError("AccessDenied", "presigned URLs are not accepted by this test server")
    auth = h.get("authorization", [None])[0]
    if not auth:
        raise AuthError("AccessDenied", "no Authorization header")
    alg, _, rest = auth.strip().partition(" ")
    if alg != "AWS4-HMAC-SHA256":
        raise AuthError("AuthorizationHeaderMalformed", "algorithm %r is not AWS4-HMAC-SHA256" % alg)
    fields = {}
    for item in rest.split(","):
        k, _, v = item.strip().partition("=")
        fields[k] = v
    if not all(fields.get(k) for k in ("Credential", "SignedHeaders", "Signature")):
        raise AuthError("AuthorizationHeaderMalformed", "need Credential, SignedHeaders and Signature: %r" % auth)
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthError("AuthorizationHeaderMalformed", "Credential %r is not KEY/DATE/REGION/s3/aws4_request"
                        % fields["Credential"])
    access, date, cregion, service = cred[:4]
    if access not in keys:
        raise AuthError("InvalidAccessKeyId", "unknown access key %r" % access)
    if cregion != region or service != "s3":
        raise AuthError("AuthorizationHeaderMalformed", "scope %s/%s, expected %s/s3" % (cregion, service, region))
    amz_date = h.get("x-amz-date", [None])[0]
    t = _parse_amz_date(amz_date)
    if t is None:
        raise AuthError("AccessDenied", "missing or malformed x-amz-date %r" % amz_date)
    if date != amz_date[:8]:
        raise AuthError("SignatureDoesNotMatch", "scope date %s differs from x-amz-date %s" % (date, amz_date))
    if now is not False:
        now = time.time() if now is None else now
        if abs(now - t) > max_skew:
            raise AuthError("RequestTimeTooSkewed", "x-amz-date %s is %d s from the server time" % (amz_date, t - now))
    payload = h.get("x-amz-content-sha256", [None])[0]
    if payload is None:
        raise AuthError("InvalidRequest", "missing x-amz-content-sha256")
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(set(signed)) or any(s != s.lower() or not s for s in signed):
        raise AuthError("SignatureDoesNotMatch", "SignedHeaders %r not sorted, unique, lowercase" % fields["SignedHeaders"])
    # S3 wants host and every x-amz-* header present to be signed.
    unsigned = [n for n in h if (n == "host" or n.startswith("x-amz-")) and n not in signed]
    if unsigned:
        raise AuthError("AccessDenied", "headers present but not signed: %s" % ";".join(sorted(unsigned)))
    missing = [n for n in signed if n not in h]
    if missing:
        raise AuthError("SignatureDoesNotMatch", "signed headers absent from the request: %s" % ";".join(missing))
    creq = canonical_request(method, target, h, signed, payload)
    want = signature(keys[access], amz_date, region, creq)
    if not hmac.compare_digest(want, fields["Signature"]):
        raise AuthError("SignatureDoesNotMatch", "signature %s, expected %s; canonical request %r"
                        % (fields["Signature"], want, creq))
    if body is not None and payload != UNSIGNED:
        if payload.startswith("STREAMING-"):
            raise AuthError("XAmzContentSHA256Mismatch", "%s bodies are not supported here" % payload)
        got = hashlib.sha256(body).hexdigest()
        if got != payload:
            raise AuthError("XAmzContentSHA256Mismatch", "x-amz-content-sha256 %s, body (%d bytes) hashes to %s"
                            % (payload, len(body), got))


def sign_headers(method, host, target, body, access_key, secret, region="us-east-1", amz_date=None, extra=None):
    """Headers for a request signed like an S3 client (host, x-amz-*)."""
    amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    payload = hashlib.sha256(body or b"").hexdigest()
    hdrs = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload}
    hdrs.update({k.lower(): v for k, v in (extra or {}).items()})
    signed = sorted(n for n in hdrs if n == "host" or n.startswith("x-amz-") or n == "content-type")
    creq = canonical_request(method, target, {k: [v] for k, v in hdrs.items()}, signed, payload)
    hdrs["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, SignedHeaders=%s, Signature=%s" % (
        access_key, amz_date[:8], region, ";".join(signed), signature(secret, amz_date, region, creq))
    return hdrs


def s3_error_xml(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>'
            % (_xml_escape(code), _xml_escape(message))).encode()


# ---------------------------------------------------------------- proxy

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests print what matters
        pass

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _reply(self, status, headers, body, head=False):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if body and not head:
            self.wfile.write(body)
        self.close_connection = True

    def _handle(self):
        proxy = self.server.proxy
        self.close_connection = True
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except (ValueError, OSError):
            return
        mode, kw = proxy._take_fault(self.command, len(body))
        if mode == "down":
            proxy._log(self.command, path, query, None)
            return  # no reply: the connection is closed
        if mode == "delay":
            time.sleep(kw.get("seconds", 1.0))
        if mode == "status":
            st = kw.get("status", 500)
            code = {500: "InternalError", 503: "SlowDown"}.get(st, "InjectedFault")
            self._reply(st, [("Content-Type", "application/xml")], s3_error_xml(code, "fault injected by the test"))
            proxy._log(self.command, path, query, st)
            return
        try:
            verify(self.command, self.path, self.headers.items(), body, proxy.keys, proxy.region)
        except AuthError as e:
            proxy._fail(self.command, self.path, e)
            self._reply(403, [("Content-Type", "application/xml")], s3_error_xml(e.code, e.message),
                        head=self.command == "HEAD")
            proxy._log(self.command, path, query, 403)
            return
        t0 = time.time()
        st, hdrs, data = proxy._forward(self.command, self.path, self.headers.items(), body)
        if time.time() - t0 > 5:  # s3rver itself was slow: tests may say so
            proxy.slow.append((self.command, self.path, st, round(time.time() - t0, 1)))
        self._reply(st, hdrs, data, head=self.command == "HEAD")
        proxy._log(self.command, path, query, st)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # "start" rebinds the port "stop" released

    def handle_error(self, request, client_address):
        """A client that hangs up mid-reply (a restore stopped by a full
        disk, a process killed) is no error of the test's."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class S3Proxy:
    """Threaded HTTP proxy on 127.0.0.1 that verifies SigV4 and forwards to
    upstream (host, port). keys: {access key: secret}."""

    def __init__(self, upstream, keys, region="us-east-1", port=0):
        self.upstream, self.keys, self.region = upstream, dict(keys), region
        self.port = port
        self._lock = threading.Lock()
        self._server = self._thread = None
        self._mode, self._kw, self._left = None, {}, None
        self.s3rver_data = None  # s3rver's -d folder, for read-your-writes (see _forward)
        self.slow = []  # (method, target, status, seconds) of forwards over 5 s
        self.reset_counters()

    # -- listening
    def start(self):
        """Listen (again, on the same port once one was chosen)."""
        with self._lock:
            if self._server:
                return
            for attempt in range(50):
                try:
                    srv = _Server(("127.0.0.1", self.port), _Handler)
                    break
                except OSError:
                    if not self.port or attempt == 49:
                        raise
                    time.sleep(0.1)
            srv.proxy = self
            self.port = srv.server_address[1]
            self._server = srv
            self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            self._thread.start()

    def stop(self):
        """Close the listening socket: new connections are refused."""
        with self._lock:
            srv, self._server = self._server, None
        if srv:
            srv.shutdown()
            srv.server_close()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    # -- faults
    def set_fault(self, mode, **kw):
        """mode None (normal), "down" (close without reply), "status"
        (status=500|503), "delay" (seconds=...), each for count=N requests
        (then normal) or always (count=None); "stop" (refuse connections)
        and "start" (listen again on the same port, normal)."""
        if mode not in (None, "down", "status", "delay", "stop", "start"):
            raise ValueError("unknown fault mode %r" % mode)
        if mode == "stop":
            self.stop()
            return
        if mode in ("start", None):
            self.start()
            mode = None
        with self._lock:
            self._mode, self._kw, self._left = mode, dict(kw), kw.get("count")

    def _take_fault(self, method, nbytes):
        with self._lock:
            self._requests[method] += 1
            self._bytes_in += nbytes
            mode, kw = self._mode, self._kw
            if mode and self._left is not None:
                self._left -= 1
                if self._left <= 0:
                    self._mode, self._kw, self._left = None, {}, None
            return mode, kw

    # -- counters
    def reset_counters(self):
        with self._lock:
            self._requests = collections.Counter()
            self._bytes_in = 0
            self._failures = []
            self._log_entries = collections.deque(maxlen=500)

    def requests(self):
        """{method: count} of every request received (faulted ones too)."""
        with self._lock:
            return dict(self._requests)

    def bytes_in(self):
        with self._lock:
            return self._bytes_in

    def sig_failures(self):
        """[(code, message, method, target)] of every refused request."""
        with self._lock:
            return list(self._failures)

    def log(self):
        """[(method, path, query, status)] of the last 500 requests; status
        None for "down", 502 when s3rver could not be reached."""
        with self._lock:
            return list(self._log_entries)

    def _log(self, method, path, query, status):
        with self._lock:
            self._log_entries.append((method, path, query, status))

    def _fail(self, method, target, err):
        with self._lock:
            self._failures.append((err.code, err.message, method, target))

    # -- forwarding
    def _forward_raw(self, method, target, headers, body):
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            has_host = False
            for k, v in headers:
                lk = k.lower()
                if lk in HOP_BY_HOP or lk == "content-length":
                    continue
                has_host = has_host or lk == "host"
                conn.putheader(k, v)
            if not has_host:
                conn.putheader("Host", "%s:%d" % self.upstream)
            if body or method in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            hdrs = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            if method != "HEAD":  # HEAD keeps the object's length; others get ours
                hdrs = [(k, v) for k, v in hdrs if k.lower() != "content-length"]
            return resp.status, hdrs, data
        except (OSError, http.client.HTTPException) as e:
            return 502, [("Content-Type", "application/xml")], s3_error_xml("BadGateway", "s3rver: %s" % e)
        finally:
            conn.close()


    def _forward(self, method, target, headers, body):
        """s3rver 3.7.1 answers a PUT before the object is on its disk (its
        file store resolves when the hashing stream ends, not the file
        stream, and rewrites the object file in place), so a GET right after
        a PUT may read it empty or short. S3 reads its writes; so does the
        proxy: a PUT's reply waits until s3rver's file holds the body."""
        st, hdrs, data = self._forward_raw(method, target, headers, body)
        if self.s3rver_data and method == "PUT" and st == 200 and "?" not in target:
            path = os.path.join(self.s3rver_data, urllib.parse.unquote(target.lstrip("/"))) + "._S3rver_object"
            deadline = time.time() + 5
            while time.time() < deadline and (not os.path.exists(path) or os.path.getsize(path) != len(body)):
                time.sleep(0.002)
        return st, hdrs, data


# ---------------------------------------------------------------- server

def _free_port():
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class S3Server:
    """s3rver with one bucket, behind an S3Proxy. The proxy accepts access
    key S3RVER (the only key s3rver knows) with secret_key (random unless
    given). The helpers list_keys/get_object/put_object/delete_object talk
    to s3rver directly, bypassing the proxy, its faults and its counters."""

    ACCESS_KEY = "S3RVER"

    def __init__(self, tmpdir, bucket="vgtest", region="us-east-1", secret_key=None):
        self.tmpdir, self.bucket, self.region = tmpdir, bucket, region
        self.access_key = self.ACCESS_KEY
        self.secret_key = secret_key or secrets.token_hex(20)
        self.data_dir = os.path.join(tmpdir, "s3rver-data")
        self.log_path = os.path.join(tmpdir, "s3rver.log")
        self.proc = self.proxy = None
        self.s3rver_port = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def endpoint(self):
        return self.proxy.endpoint

    def start(self):
        prefix = install_s3rver()
        os.makedirs(self.data_dir, exist_ok=True)
        cli = os.path.join(prefix, "node_modules", ".bin", "s3rver")
        why = "?"
        for _ in range(5):  # the free port may be taken again before s3rver binds it
            port = _free_port()
            log = open(self.log_path, "wb")
            # --openssl-legacy-provider: s3rver's continuation tokens use a cipher
            # Node 17+ refuses without it (a truncated LIST v2 then answers 500).
            proc = subprocess.Popen(["node", "--openssl-legacy-provider", cli, "-d", self.data_dir,
                                     "-a", "127.0.0.1", "-p", str(port), "--silent",
                                     "--configure-bucket", self.bucket],
                                    cwd=prefix, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.time() + 20
            while time.time() < deadline and proc.poll() is None:
                with open(self.log_path, "rb") as f:
                    if b"S3rver listening" in f.read():
                        break
                time.sleep(0.02)
            with open(self.log_path, "rb") as f:
                out = f.read().decode("utf-8", "replace")
            if proc.poll() is None and "S3rver listening" in out:
                self.proc, self.s3rver_port = proc, port
                break
            why = out.strip()[-500:] or "no output"
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        else:
            raise RuntimeError("s3rver did not start: %s" % why)
        self.proxy = S3Proxy(("127.0.0.1", self.s3rver_port), {self.access_key: self.secret_key}, self.region)
        self.proxy.s3rver_data = self.data_dir
        self.proxy.start()
        return self

    def stop(self):
        if self.proxy:
            self.proxy.stop()
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    # -- direct access to s3rver (signed, though s3rver checks only the key)
    def _direct(self, method, key="", query="", body=b""):
        target = "/%s/%s" % (self.bucket, uri_encode(key, keep_slash=True)) if key else "/" + self.bucket
        if query:
            target += "?" + query
        host = "127.0.0.1:%d" % self.s3rver_port
        hdrs = sign_headers(method, host, target, body, self.access_key, self.secret_key, self.region)
        conn = http.client.HTTPConnection("127.0.0.1", self.s3rver_port, timeout=30)
        try:
            conn.request(method, target, body=body if (body or method in ("PUT", "POST")) else None, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def list_keys(self, prefix=""):
        """Every object key under prefix, sorted: LIST v2 pages from s3rver."""
        keys, token = [], None
        while True:
            q = "list-type=2&prefix=" + uri_encode(prefix)
            if token:
                q += "&continuation-token=" + uri_encode(token)
            st, data = self._direct("GET", query=q)
            if st != 200:
                raise RuntimeError("LIST %s: %d %r" % (prefix, st, data[:300]))
            root = ET.fromstring(data)
            token = None
            for el in root:
                tag = el.tag.rsplit("}", 1)[-1]
                if tag == "Contents":
                    keys += [c.text or "" for c in el if c.tag.rsplit("}", 1)[-1] == "Key"]
                elif tag == "NextContinuationToken":
                    token = el.text
            if not token:
                return sorted(keys)

    def get_object(self, key):
        """The object's bytes; KeyError if there is none."""
        st, data = self._direct("GET", key)
        if st == 404:
            raise KeyError(key)
        if st != 200:
            raise RuntimeError("GET %s: %d %r" % (key, st, data[:300]))
        return data

    def put_object(self, key, data):
        st, out = self._direct("PUT", key, body=data)
        if st != 200:
            raise RuntimeError("PUT %s: %d %r" % (key, st, out[:300]))

    def delete_object(self, key):
        st, out = self._direct("DELETE", key)
        if st not in (200, 204):
            raise RuntimeError("DELETE %s: %d %r" % (key, st, out[:300]))
