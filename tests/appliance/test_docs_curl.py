#!/usr/bin/python3
"""The curl examples of docs/appliance.md, run as written against the real
daemon.  Every ```sh block with `curl` in it (not the `make install` /
`systemctl` one) is split into commands, `localhost:8080` becomes the
daemon's address, and each command runs with `sh -c` in the doc's order,
with $ADMIN and $KEY in its environment.  Its status is checked against the
first number of the `# NNN ...` comment after it; a JSON body shown there
must have the same keys, an NDJSON or text body the same lines (by their
first token).  Helpers come from test_vecguardd.py."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_vecguardd as base  # noqa: E402

check, cli = base.check, base.cli
DOC = os.path.join(os.environ.get("VG_DOCS") or os.path.join(HERE, "..", "..", "docs"), "appliance.md")

# Values of the doc that stand for what an earlier reply said: (text in the
# command that gave it, field of its JSON reply, the doc's text it replaces in
# later commands).  "KEY:t" is not in the doc: it is $KEY for tenant t.
CAPTURES = [
    ('{"tenant": "acme"}', "key", "KEY:acme"),                 # POST /v1/tenants: acme's first key
    ('{"scopes": ["search"]}', "key_id", "a948d00f78523f6b"),  # POST .../keys: the key rotated, then revoked
]
# Examples that are not run, and why.
SKIP = {
    "…384 numbers…": "a vector query: its 384 numbers are elided in the doc "
                     "(test_vecguardd_api.py's vector_search sends one)",
}
# Top-level lists the doc shows with an item that a fresh daemon leaves empty.
MAY_BE_EMPTY = {
    "dead",  # GET .../queue: a dead item needs a model that refuses a text
}
# Top-level values the reply must have as the doc shows them.
EXACT = {
    "next_cursor",  # GET .../documents?limit=3: the next example sends cursor=cDA1 back
}


def split_comment(line):
    """(code, comment) of a shell line: a `#` outside quotes, at the line's
    start or after a blank, starts the comment."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i], line[i + 1:].strip()
    return line, None


def examples(path):
    """[(command, [comment lines])] of the doc's ```sh blocks with curl."""
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", open(path).read(), re.S | re.M):
        if "curl" not in block or "make install" in block or "systemctl" in block:
            continue
        cur, first = None, True
        for line in block.splitlines():
            if not line.strip():
                continue
            code, comment = split_comment(line)
            if cur is None and not code.strip():
                if not first:
                    out[-1][1].append(comment)  # a comment line after its command
                continue
            cur = (cur + "\n" if cur is not None else "") + code.rstrip()
            if cur.endswith("\\") or cur.endswith("|"):
                continue  # a continued line, a pipeline
            out.append((cur, [comment] if comment else []))
            cur, first = None, False
    return out


def doc_json(text):
    """The JSON value at the start of text: `,…}` (more keys) becomes the key
    "…", `,…]` (more items) is dropped.  None when text is no JSON."""
    text = re.sub(r",\s*…\s*}", ',"…":0}', text)
    text = re.sub(r",\s*…\s*]", "]", text)
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except ValueError:
        return None


def same_keys(doc, got):
    """Does got have doc's keys (at least them when doc has "…")?"""
    if not isinstance(doc, dict) or not isinstance(got, dict):
        return isinstance(got, type(doc))
    want = set(doc) - {"…"}
    return want <= set(got) if "…" in doc else want == set(got)


def shape_problems(doc, got):
    """What differs between the doc's JSON and the reply: the top-level keys,
    and for a list the doc shows with an object in it, the first item's."""
    if not same_keys(doc, got):
        return ["keys %s, doc shows %s" % (sorted(got) if isinstance(got, dict) else type(got).__name__,
                                           sorted(set(doc) - {"…"}) if isinstance(doc, dict) else doc)]
    problems = []
    for k, v in doc.items() if isinstance(doc, dict) else ():
        if k in EXACT and got.get(k) != v:
            problems.append("%r is %s, the doc shows %s" % (k, json.dumps(got.get(k)), json.dumps(v)))
        if isinstance(v, list) and v and isinstance(v[0], dict):
            g = got.get(k)
            if not g:
                if k not in MAY_BE_EMPTY:
                    problems.append("%r is empty, the doc shows an item" % k)
            elif not same_keys(v[0], g[0]):
                problems.append("%r's first item has keys %s, doc shows %s" % (k, sorted(g[0]), sorted(v[0])))
    return problems


def expectation(comments):
    """(status, content type or None, JSON value or None, [body lines])."""
    m = re.match(r"(\d{3})\b\s*(.*)", comments[0] if comments else "")
    if not m:
        return None, None, None, []
    status, rest = int(m.group(1)), m.group(2)
    ctype = re.match(r"\(Content-Type: ([^)]*)\)", rest)
    if rest.startswith("{"):  # one JSON value, maybe over several comment lines
        return status, None, doc_json(rest + "".join(comments[1:])), []
    return status, ctype.group(1) if ctype else None, None, comments[1:]


def run(cmd, addr, env, body_file):
    """Runs a doc command with curl's status, content type and body taken
    aside (curl -o, -w): (status, content type, body) or a string saying why not."""
    text = cmd.replace("localhost:8080", addr)
    curl = re.compile(r"(?<![\w-])curl\s")
    if len(curl.findall(text)) != 1:
        return "not one curl in it"
    text = curl.sub(lambda _: "curl --max-time 20 -o \"$VG_BODY\" -w '%{http_code} %{content_type}' ", text)
    if os.path.exists(body_file):
        os.unlink(body_file)
    p = subprocess.run(["sh", "-c", text], env=dict(env, VG_BODY=body_file), capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        return "sh exit %d: %s" % (p.returncode, p.stderr.strip())
    code, _, ctype = p.stdout.partition(" ")
    body = open(body_file, "rb").read().decode() if os.path.exists(body_file) else ""
    return int(code), ctype.strip(), body


def compare(what, want, got):
    status, ctype, doc, lines = want
    st, gtype, body = got
    check(st == status, "%s: status %d (doc: %d)" % (what, st, status))
    if ctype is not None:
        check(gtype.startswith(ctype), "%s: Content-Type %r (doc: %r)" % (what, gtype, ctype))
    if doc is not None:
        try:
            reply = json.loads(body)
        except ValueError:
            check(False, "%s: the reply is JSON (got %r)" % (what, body[:200]))
            return None
        problems = shape_problems(doc, reply)
        check(not problems, "%s: the reply has the doc's keys%s" % (what, "".join("; " + p for p in problems)))
        return reply
    lines = [ln for ln in lines if not ln.startswith("…")]
    if lines and all(ln.startswith("{") for ln in lines):  # NDJSON: one reply line per doc line
        got_lines = body.splitlines()
        ok = len(got_lines) == len(lines)
        for d, g in zip(lines, got_lines):
            dv, gv = doc_json(d), json.loads(g)
            ok = ok and not shape_problems(dv, gv) and dv.get("status") == gv.get("status")
        check(ok, "%s: %d NDJSON lines with the doc's keys and statuses (got %r)" % (what, len(lines), body[:300]))
    elif lines:  # text: each doc line's first token starts a reply line
        firsts = {ln.split(" ", 1)[0] for ln in body.splitlines()}
        missing = [ln.split(" ", 1)[0] for ln in lines if ln.split(" ", 1)[0] not in firsts]
        check(not missing, "%s: the reply has the doc's %d lines (missing %s)" % (what, len(lines), missing))
    elif status == 204:
        check(body == "", "%s: no body" % what)
    return None


def wait_idle(api, keys):
    """Until no queue of these tenants has an item to do: the doc shows
    documents once the workers embedded them."""
    for tenant, key in keys.items():
        for _ in range(400):
            st, body = api.call("GET", "/v1/tenants/%s/queue" % tenant, key=key)
            if st != 200 or body["by_status"]["pending"] + body["by_status"]["processing"] == 0:
                break
            time.sleep(0.05)


def put_pages(api, keys):
    """GET .../documents?limit=3 pages through p01 ... p13 (its cursor cDA1 is p05)."""
    for d in ("p07", "p03", "p11", "p01", "p09", "p05", "p13"):
        api.call("PUT", "/v1/tenants/acme/documents/" + d, {"text": "page test " + d, "metadata": {"n": d}},
                 key=keys["acme"])


# What the examples assume exists, made before the first command that has
# the text: (text, function(api, keys)).
HOOKS = [("documents?limit=3", put_pages)]


def main():
    tmp = tempfile.mkdtemp(prefix="vgd-docs-")
    data = os.path.join(tmp, "data")
    body_file = os.path.join(tmp, "body")
    keys = {}
    # The examples assume "rep" (the report's tenant, with three ingests) and
    # "old" (the tenant deleted); acme is made by the doc's own POST.
    for t in ("rep", "old"):
        rc, out, err = cli("tenant", "create", t, "--data-dir", data)
        check(rc == 0, "tenant create %s (%s)" % (t, err.strip()))
        keys[t] = json.loads(out)["key"] if rc == 0 else ""
    admin = open(os.path.join(data, "admin.key")).read().strip()
    cmds = examples(DOC)
    check(len(cmds) >= 20, "%d curl commands in docs/appliance.md" % len(cmds))
    t0 = time.time()
    proc, api = base.start(data)
    addr = api.base[len("http://"):]
    try:
        for d, text in (("r1", "Minutes of the weekly meeting."),
                        ("r2", "Mail ana@example.com about the order."),
                        ("r3", "Card 4111 1111 1111 1111, mail bo@example.com and cy@example.com.")):
            api.call("PUT", "/v1/tenants/rep/documents/" + d, {"text": text}, key=keys["rep"])
        subst, hooks = {}, list(HOOKS)
        for n, (cmd, comments) in enumerate(cmds, 1):
            first = cmd.split("\n")[0]
            what = "example %d `%s`" % (n, first if len(first) < 90 else first[:87] + "...")
            why = [w for t, w in SKIP.items() if t in cmd]
            if why:
                print("skip %s: %s" % (what, why[0]))
                continue
            for hook in [h for h in hooks if h[0] in cmd]:
                hooks.remove(hook)
                hook[1](api, keys)
            wait_idle(api, {t: k for t, k in keys.items() if t in ("acme", "rep")})
            want = expectation(comments)
            if want[0] is None:
                check(False, "%s: a `# NNN ...` comment gives its status" % what)
                continue
            for old, new in subst.items():
                cmd = cmd.replace(old, new)
            m = re.search(r"/v1/tenants/([a-z0-9][a-z0-9_-]*)/", cmd)
            env = dict(os.environ, ADMIN=admin, KEY=keys.get(m.group(1), "") if m else "")
            got = run(cmd, addr, env, body_file)
            if isinstance(got, str):
                check(False, "%s: runs (%s)" % (what, got))
                continue
            reply = compare(what, want, got)
            for text, field, name in CAPTURES:
                if text in cmd and isinstance(reply, dict) and field in reply:
                    if name.startswith("KEY:"):
                        keys[name[4:]] = reply[field]
                    else:
                        subst[name] = reply[field]
        check(not hooks, "every setup step ran (left: %s)" % [h[0] for h in hooks])
        check(all(any(t in c for c, _ in cmds) for t, _, _ in CAPTURES), "every captured value's command is in the doc")
    finally:
        rc, _ = base.stop(proc)
    check(rc == 0, "SIGTERM: exit 0 (got %s)" % rc)
    print("%d examples in %.1f s" % (len(cmds), time.time() - t0))
    base.finish(tmp)


if __name__ == "__main__":
    main()
