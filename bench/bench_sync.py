#!/usr/bin/python3
"""bench_sync.py — the HTTP side of bench/bench_sync.sh (docs/benchmarks.md,
"sync"). One command per call:

  bench_sync.py upsert URL TENANT KEY N new|update NDOCS CLIENTS
      N PUTs of /v1/tenants/TENANT/documents/{id} by CLIENTS clients: new ids
      (s<run>-<i>) or existing ones (d<j>, spread over d0..d<NDOCS-1>, the
      ids bench_appliance build gives), then GET .../queue until pending and
      processing are 0; prints one line
  bench_sync.py lag BOX HUB TENANT BOXKEY HUBKEY RATE SECONDS
      PUT RATE documents/s for SECONDS on BOX, each with a word of its own;
      every 0.5 s search HUB (mode lexical, k 1) for the documents not yet
      seen there, oldest first, up to the first one missing; a document's lag
      is from its PUT's 202 to the poll that found it (0.5 s resolution).
      Polls go on up to 60 s after the last PUT.  Prints the distribution.
"""
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True


class Api:
    def __init__(self, url, key):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.key = u.hostname, u.port, key
        self.conn = None

    def call(self, method, path, body=None):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                hdrs = {"Authorization": "Bearer " + self.key}
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    hdrs["Content-Type"] = "application/json"
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                raw = r.read()
                try:
                    return r.status, json.loads(raw) if raw else None
                except ValueError:
                    return r.status, raw.decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise


SYL = ["ka", "lo", "mi", "ne", "ru", "so", "ta", "vi", "de", "po", "gu", "fa", "be", "zo", "ri", "ha"]


def text(rng, n=12):
    return " ".join("".join(rng.choice(SYL) for _ in range(3)) for _ in range(n))


def wait_queue(api, tenant, timeout=600):
    t0 = time.time()
    t_end, t_note = t0 + timeout, t0 + 30
    while time.time() < t_end:
        st, body = api.call("GET", "/v1/tenants/%s/queue" % tenant)
        if st == 200:
            s = body.get("by_status", {})
            if s.get("pending", 0) == 0 and s.get("processing", 0) == 0:
                return s
            if time.time() > t_note:
                t_note += 60
                print("  the queue is not empty after %.0f s: by_status %s, oldest_pending_age %s"
                      % (time.time() - t0, json.dumps(s, sort_keys=True), body.get("oldest_pending_age")), flush=True)
        time.sleep(0.02)
    raise SystemExit("bench_sync: the queue of %s is not empty after %d s" % (tenant, timeout))


def upsert(url, tenant, key, n, mode, ndocs, nthread):
    n, ndocs, nthread = int(n), int(ndocs), int(nthread)
    run = int(time.time() * 1000) % 100000
    if mode == "new":
        ids = ["s%d-%d" % (run, i) for i in range(n)]
    else:
        step = max(1, ndocs // n)
        ids = ["d%d" % ((i * step + 7) % ndocs) for i in range(n)]
    bad = []

    def worker(k):
        api = Api(url, key)
        rng = random.Random(run * 31 + k)
        for i in range(k, n, nthread):
            st, body = api.call("PUT", "/v1/tenants/%s/documents/%s" % (tenant, ids[i]),
                                {"text": text(rng), "metadata": {"lang": "en", "n": i}})
            if st != 202:
                bad.append((ids[i], st, body))

    t0 = time.time()
    th = [threading.Thread(target=worker, args=(k,)) for k in range(nthread)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    t_put = time.time() - t0
    s = wait_queue(Api(url, key), tenant)
    t_all = time.time() - t0
    print("upsert %s: %d PUTs by %d clients in %.2f s (%d not 202%s), queue empty after %.2f s (by_status %s)"
          % (mode, n, nthread, t_put, len(bad), (": %s" % (bad[:2],)) if bad else "", t_all, json.dumps(s, sort_keys=True)))
    return 1 if bad else 0


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def lag(box, hub, tenant, boxkey, hubkey, rate, seconds):
    rate, seconds = float(rate), float(seconds)
    n = int(rate * seconds)
    rng = random.Random(4242)
    words, seen = [], set()
    while len(words) < n:
        w = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))
        if w not in seen:
            seen.add(w)
            words.append(w)
    accepted = [None] * n  # time of the 202
    found = [None] * n
    state = {"put": 0, "done": False, "polls": 0, "searches": 0, "errors": []}
    lock = threading.Lock()

    def poller():
        api = Api(hub, hubkey)
        nxt = 0  # the oldest document not yet found
        t_next = time.time()
        while True:
            t_next += 0.5
            with lock:
                upto, done = state["put"], state["done"]
            while nxt < upto:
                st, body = api.call("POST", "/v1/tenants/%s/search" % tenant,
                                    {"query": words[nxt], "k": 1, "mode": "lexical"})
                state["searches"] += 1
                if st != 200:
                    state["errors"].append((st, body))
                    break
                res = body.get("results") or []
                if not (res and res[0]["id"] == "lag%d" % nxt):
                    break
                found[nxt] = time.time()
                nxt += 1
            state["polls"] += 1
            if done and (nxt >= upto or time.time() > state["t_last"] + 60):
                return
            time.sleep(max(0.0, t_next - time.time()))

    th = threading.Thread(target=poller)
    api = Api(box, boxkey)
    t0 = time.time()
    th.start()
    bad = 0
    for i in range(n):
        t_due = t0 + i / rate
        d = t_due - time.time()
        if d > 0:
            time.sleep(d)
        st, body = api.call("PUT", "/v1/tenants/%s/documents/lag%d" % (tenant, i),
                            {"text": "%s %s" % (words[i], text(rng, 8))})
        if st != 202:
            bad += 1
            state["errors"].append((st, body))
        accepted[i] = time.time()
        with lock:
            state["put"] = i + 1
    t_put = time.time() - t0
    with lock:
        state["t_last"] = time.time()
        state["done"] = True
    th.join()
    lags = [f - a for a, f in zip(accepted, found) if f is not None]
    missing = sum(1 for f in found if f is None)
    print("lag: %d PUTs in %.1f s (%.1f/s, %d not 202); %d polls, %d searches at the hub; "
          "found at the hub: %d, missing after 60 s: %d" % (n, t_put, n / t_put, bad, state["polls"],
                                                             state["searches"], len(lags), missing))
    print("replica lag, PUT 202 -> found by search at the hub: p50 %.2f s, p95 %.2f s, max %.2f s, min %.2f s"
          % (pct(lags, 50), pct(lags, 95), max(lags) if lags else float("nan"),
             min(lags) if lags else float("nan")))
    if missing:
        # where the missing ones are: the box's view, the hub's
        bapi, hapi = Api(box, boxkey), Api(hub, hubkey)
        for i in [i for i, f in enumerate(found) if f is None][:5]:
            b = bapi.call("GET", "/v1/tenants/%s/documents/lag%d" % (tenant, i))
            h = hapi.call("GET", "/v1/tenants/%s/documents/lag%d" % (tenant, i))
            print("missing lag%d: box %s %s; hub %s" % (i, b[0], (b[1] or {}).get("status") if b[0] == 200 else b[1],
                                                       h[0]))
        print("box sync status %s" % json.dumps(bapi.call("GET", "/v1/tenants/%s/sync" % tenant)[1]))
    if state["errors"]:
        print("errors: %s" % state["errors"][:3])
    return 1 if bad or missing or state["errors"] else 0


def main():
    a = sys.argv[1:]
    if a and a[0] == "upsert" and len(a) == 8:
        sys.exit(upsert(*a[1:]))
    if a and a[0] == "lag" and len(a) == 8:
        sys.exit(lag(*a[1:]))
    sys.stderr.write(__doc__)
    sys.exit(2)


if __name__ == "__main__":
    main()
