#!/usr/bin/python3
"""Self test of s3test.py: its SigV4 verifier against the AWS documented
example and against requests curl signs itself (--aws-sigv4), then every
fault mode of the proxy. Prints SKIPPED when s3rver cannot be installed."""
import sys

sys.dont_write_bytecode = True

import hashlib  # noqa: E402
import http.client  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3test  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: %s" % what)


def aws_example():
    """GET Object example of "Signature Calculations for the Authorization
    Header: Transferring Payload in a Single Chunk" (Amazon S3 API reference)."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    headers = [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
               ("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
               ("x-amz-date", "20130524T000000Z")]
    signed = ["host", "range", "x-amz-content-sha256", "x-amz-date"]
    documented_creq_hash = "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    documented_sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    creq = s3test.canonical_request("GET", "/test.txt", s3test._header_map(headers), signed, headers[2][1])
    check(hashlib.sha256(creq.encode()).hexdigest() == documented_creq_hash, "AWS example canonical request hash")
    sig = s3test.signature(secret, "20130524T000000Z", "us-east-1", creq)
    check(sig == documented_sig, "AWS example signature %s" % sig)
    auth = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" + documented_sig)
    req = headers + [("Authorization", auth)]
    t0 = 1369353600  # 2013-05-24T00:00:00Z
    keys = {"AKIAIOSFODNN7EXAMPLE": secret}
    try:
        s3test.verify("GET", "/test.txt", req, b"", keys, now=t0)
    except s3test.AuthError as e:
        check(False, "AWS example refused: %s" % e)

    def refused(code, **kw):
        args = dict(method="GET", target="/test.txt", headers=req, body=b"", keys=keys, now=t0)
        args.update(kw)
        try:
            s3test.verify(args.pop("method"), args.pop("target"), args.pop("headers"), args.pop("body"),
                          args.pop("keys"), now=args.pop("now"))
        except s3test.AuthError as e:
            return e.code == code
        return False
    check(refused("SignatureDoesNotMatch", keys={"AKIAIOSFODNN7EXAMPLE": secret + "x"}), "example, wrong secret")
    check(refused("SignatureDoesNotMatch", target="/test.txt?x=1"), "example, other query")
    check(refused("SignatureDoesNotMatch", method="HEAD"), "example, other method")
    check(refused("InvalidAccessKeyId", keys={"OTHER": secret}), "example, unknown key")
    check(refused("RequestTimeTooSkewed", now=t0 + 901), "example, 15 min 1 s late")
    check(refused("XAmzContentSHA256Mismatch", body=b"x"), "example, body not matching its hash")
    check(refused("AccessDenied", headers=req + [("x-amz-meta-a", "1")]), "example, unsigned x-amz header")


def canonical_forms():
    """Canonicalisation rules the daemon's signer must agree with."""
    check(s3test.canonical_query("prefix=x%2F&list-type=2") == "list-type=2&prefix=x%2F", "query sorted")
    check(s3test.canonical_query("uploads") == "uploads=", "valueless query name")
    check(s3test.canonical_query("a=b&a=a") == "a=a&a=b", "same names sorted by value")
    check(s3test.canonical_query("k=a%20b~c/d") == "k=a%20b~c%2Fd", "query value encoding")
    check(s3test.canonical_uri("/b/a%20b/c~d%2Fe") == "/b/a%20b/c~d/e", "path: decoded once, encoded once")
    check(s3test.canonical_uri("/b/x%3Dy:z") == "/b/x%3Dy%3Az", "path: = and : encoded")


class Curl:
    """curl 7.88 signs the query string exactly as given (no sorting, no
    encoding, "uploads" without "="), so the targets below are written in
    canonical form already; the verifier rightly refuses the others."""

    def __init__(self, s3, tmp):
        self.s3, self.tmp = s3, tmp

    def __call__(self, method, target, body=None, secret=None, key=None, sha=None, chunked=False):
        """(status or -curl exit code, headers text, body bytes) of one request signed by curl."""
        out, hdr = os.path.join(self.tmp, "curl.out"), os.path.join(self.tmp, "curl.hdr")
        cmd = ["curl", "-s", "-o", out, "-D", hdr, "-w", "%{http_code}", "-X", method, "--max-time", "20",
               "--aws-sigv4", "aws:amz:us-east-1:s3",
               "--user", "%s:%s" % (key or self.s3.access_key, secret or self.s3.secret_key),
               "-H", "x-amz-content-sha256: " + (sha or hashlib.sha256(body or b"").hexdigest())]
        if body is not None:
            src = os.path.join(self.tmp, "curl.in")
            with open(src, "wb") as f:
                f.write(body)
            cmd += ["--data-binary", "@" + src, "-H", "Content-Type: application/octet-stream"]
        if chunked:
            cmd += ["-H", "Transfer-Encoding: chunked"]
        for p in (out, hdr):
            if os.path.exists(p):
                os.unlink(p)
        r = subprocess.run(cmd + [self.s3.endpoint + target], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            return -r.returncode, "", b""
        with open(hdr) as f:
            h = f.read()
        with open(out, "rb") as f:
            return int(r.stdout), h, f.read()


def code_of(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def through_proxy(s3, tmp):
    curl = Curl(s3, tmp)
    b = "/" + s3.bucket
    px = s3.proxy
    data = os.urandom(3000)  # over 1 KiB: curl sends Expect: 100-continue
    st, _, _ = curl("PUT", b + "/x/obj%201.bin", data)
    check(st == 200, "curl PUT: %s" % st)
    check(s3.get_object("x/obj 1.bin") == data, "object stored as sent")
    st, _, got = curl("GET", b + "/x/obj%201.bin")
    check(st == 200 and got == data, "curl GET: %s, %d bytes" % (st, len(got)))
    st, _, got = curl("PUT", b + "/x/chunked", b"chunked body " * 100, chunked=True)
    check(st == 200 and s3.get_object("x/chunked") == b"chunked body " * 100, "curl chunked PUT: %s" % st)
    s3.put_object("y/other", b"direct")
    st, _, got = curl("GET", b + "?list-type=2&prefix=x%2F")
    keys = re.findall(rb"<Key>([^<]*)</Key>", got)
    check(st == 200 and keys == [b"x/chunked", b"x/obj 1.bin"], "curl LIST v2 prefix x/: %s %r" % (st, keys))
    check(s3.list_keys() == ["x/chunked", "x/obj 1.bin", "y/other"], "list_keys: %r" % s3.list_keys())
    check(s3.list_keys("y/") == ["y/other"], "list_keys(prefix)")
    st, _, _ = curl("DELETE", b + "/x/chunked")
    check(st == 204, "curl DELETE: %s" % st)
    check(s3.list_keys("x/") == ["x/obj 1.bin"], "deleted")

    # multipart upload
    st, _, got = curl("POST", b + "/mp/big?uploads=")
    m = re.search(rb"<UploadId>([^<]+)</UploadId>", got)
    check(st == 200 and m, "curl CreateMultipartUpload: %s %r" % (st, got[:200]))
    upload = m.group(1).decode() if m else "none"
    part1, part2 = os.urandom(5 * 1024 * 1024), b"tail"
    etags = []
    for n, part in ((1, part1), (2, part2)):
        st, h, _ = curl("PUT", b + "/mp/big?partNumber=%d&uploadId=%s" % (n, upload), part)
        m = re.search(r"(?im)^etag:\s*(\S+)", h)
        check(st == 200 and m, "curl UploadPart %d: %s" % (n, st))
        etags.append(m.group(1) if m else '""')
    xml = ("<CompleteMultipartUpload>" + "".join(
        "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (i + 1, e) for i, e in enumerate(etags))
        + "</CompleteMultipartUpload>").encode()
    st, _, got = curl("POST", b + "/mp/big?uploadId=" + upload, xml)
    check(st == 200 and b"CompleteMultipartUploadResult" in got, "curl CompleteMultipartUpload: %s %r" % (st, got[:200]))
    check(s3.get_object("mp/big") == part1 + part2, "multipart object assembled")
    check(px.sig_failures() == [], "no signature failures so far: %r" % px.sig_failures()[:2])
    check(px.requests().get("PUT", 0) >= 4 and px.bytes_in() >= len(data) + len(part1), "counters")

    # refusals
    st, _, got = curl("GET", b + "/x/obj%201.bin", secret=s3.secret_key + "x")
    check(st == 403 and code_of(got) == "SignatureDoesNotMatch", "wrong secret: %s %s" % (st, code_of(got)))
    st, _, got = curl("PUT", b + "/x/evil", b"actual", sha=hashlib.sha256(b"declared").hexdigest())
    check(st == 403 and code_of(got) == "XAmzContentSHA256Mismatch", "body/hash mismatch: %s %s" % (st, code_of(got)))
    check("x/evil" not in s3.list_keys(), "mismatched body not stored")
    st, _, got = curl("GET", b + "/x/obj%201.bin", key="NOBODY")
    check(st == 403 and code_of(got) == "InvalidAccessKeyId", "unknown key: %s %s" % (st, code_of(got)))
    # a request signed 20 minutes ago (curl always signs with the clock)
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 1200))
    host = "127.0.0.1:%d" % px.port
    hdrs = s3test.sign_headers("GET", host, b + "/x/obj%201.bin", b"", s3.access_key, s3.secret_key, amz_date=old)
    conn = http.client.HTTPConnection("127.0.0.1", px.port, timeout=10)
    conn.request("GET", b + "/x/obj%201.bin", headers=hdrs)
    r = conn.getresponse()
    got = r.read()
    conn.close()
    check(r.status == 403 and code_of(got) == "RequestTimeTooSkewed", "skewed: %s %s" % (r.status, code_of(got)))
    codes = [f[0] for f in px.sig_failures()]
    check(codes == ["SignatureDoesNotMatch", "XAmzContentSHA256Mismatch", "InvalidAccessKeyId",
                    "RequestTimeTooSkewed"], "recorded failures: %r" % codes)
    check((("GET", b + "/x/obj%201.bin", "", 403)) in px.log(), "log has the refusal")


def faults(s3, tmp):
    curl = Curl(s3, tmp)
    px = s3.proxy
    obj = "/%s/x/obj%%201.bin" % s3.bucket
    px.set_fault("status", status=503, count=2)
    sts = [curl("GET", obj)[0] for _ in range(3)]
    check(sts == [503, 503, 200], "status 503 twice then normal: %r" % sts)
    px.set_fault("status", status=500)
    st, _, got = curl("GET", obj)
    check(st == 500 and code_of(got) == "InternalError", "status 500 always: %s %s" % (st, code_of(got)))
    px.set_fault("delay", seconds=0.5)
    t = time.time()
    st = curl("GET", obj)[0]
    dt = time.time() - t
    check(st == 200 and 0.5 <= dt < 3, "delay 0.5 s: %s after %.2f s" % (st, dt))
    px.set_fault("down")
    st = curl("GET", obj)[0]
    check(st == -52, "down: curl exit %s (52: empty reply)" % -st)
    px.set_fault(None)
    check(curl("GET", obj)[0] == 200, "normal after down")
    port = px.port
    px.set_fault("stop")
    st = curl("GET", obj)[0]
    check(st == -7, "stop: curl exit %s (7: refused)" % -st)
    px.set_fault("start")
    check(px.port == port and curl("GET", obj)[0] == 200, "start: same port, normal")
    check(px.sig_failures()[4:] == [], "no new signature failures")


def main():
    t0 = time.time()
    aws_example()
    canonical_forms()
    if not shutil.which("curl"):
        print("SKIPPED: curl is needed")
        return 0
    tmp = tempfile.mkdtemp(prefix="vg-s3test-")
    s3 = s3test.S3Server(tmp)
    try:
        try:
            s3.start()
        except s3test.Skip as e:
            print("SKIPPED: %s" % e)
            return 0
        through_proxy(s3, tmp)
        faults(s3, tmp)
    finally:
        s3.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print("%d failed" % len(FAILS))
        return 1
    print("all passed (%.1f s)" % (time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
