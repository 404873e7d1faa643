#!/usr/bin/python3
"""Posts N signed events to a running hub's webhook listener, one connection at a time
(sequential, like one sender), and prints events/s and latency percentiles.

    bench/webhook_ingest.py --port 8090 --connection eg --secret "$SECRET" -n 2000 \
        [--concurrency 4] [--body-bytes 600]

The events are signed like e-guma's (X-…-Signature: sha256=<hex HMAC of "ts.body">) with
the header prefix given by --prefix (default "X-Test-", the tests' inbox_test connector).
Every event has a new id, so each is stored (one durable SQLite commit each). Figures go
to docs/performance.md ("Webhook inbox"); run by hand, never by ctest.
"""
import argparse, hashlib, hmac, http.client, json, statistics, threading, time, uuid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connection", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--prefix", default="X-Test-")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--body-bytes", type=int, default=600)
    a = ap.parse_args()

    pad = "x" * max(0, a.body_bytes - 80)
    latencies, statuses, lock = [], {}, threading.Lock()

    def worker(count):
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
        for _ in range(count):
            body = json.dumps({"amount": "10.00", "pad": pad})
            ts = str(int(time.time()))
            sig = hmac.new(a.secret.encode(), (ts + "." + body).encode(), hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", a.prefix + "Signature": "sha256=" + sig,
                       a.prefix + "Timestamp": ts, a.prefix + "Event-Id": str(uuid.uuid4()),
                       a.prefix + "Event-Type": "sale"}
            t0 = time.perf_counter()
            conn.request("POST", "/hooks/" + a.connection, body, headers)
            r = conn.getresponse()
            r.read()
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                statuses[r.status] = statuses.get(r.status, 0) + 1

    per = [a.n // a.concurrency + (1 if i < a.n % a.concurrency else 0) for i in range(a.concurrency)]
    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in per]
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    print(f"events {a.n} concurrency {a.concurrency} wall {wall:.2f} s -> {a.n / wall:.0f} events/s; "
          f"latency ms p50 {q(0.5):.2f} p95 {q(0.95):.2f} p99 {q(0.99):.2f} max {latencies[-1] * 1000:.2f}; "
          f"statuses {statuses}")


if __name__ == "__main__":
    main()
