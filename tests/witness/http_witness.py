#!/usr/bin/env python3
"""An independent witness of a front door's availability.

It shares no code with takeover's prober: an open-loop client in plain Python
that sends one GET every INTERVAL on its own thread (a new connection each,
`Connection: close`, a TIMEOUT per request) and writes one JSON line per
request to OUT: {"seq", "sent_unix_ms", "ok", "status", "error", "latency_ms"}.
A request is good when a 2xx status arrived within the timeout.

Usage: http_witness.py URL OUT [--interval-ms 5] [--timeout-ms 1000] [--duration-s 120]
It stops on SIGTERM or SIGINT, or after the duration, waits for the requests
in flight, and exits 0. Only loopback URLs are accepted.
"""

import argparse
import http.client
import json
import signal
import threading
import time
import urllib.parse


def probe(host, port, path, timeout_s, seq, sent_unix_ms, results, lock):
    started = time.monotonic()
    status, error = None, None
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        status = response.status
        conn.close()
    except Exception as e:  # any failure to get an answer is a failed request
        error = f"{type(e).__name__}: {e}"
    latency_ms = (time.monotonic() - started) * 1e3
    if latency_ms > timeout_s * 1e3 and error is None:
        error = "answered after the timeout"
    ok = error is None and status is not None and 200 <= status < 300
    if error is None and not ok:
        error = f"HTTP {status}"
    with lock:
        results.append(
            {
                "seq": seq,
                "sent_unix_ms": sent_unix_ms,
                "ok": ok,
                "status": status,
                "error": error,
                "latency_ms": round(latency_ms, 3),
            }
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--timeout-ms", type=float, default=1000.0)
    parser.add_argument("--duration-s", type=float, default=120.0)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing a non-loopback target: {url.hostname}")
    path = url.path or "/"

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    results, lock, threads = [], threading.Lock(), []
    interval_s = args.interval_ms / 1e3
    start = time.monotonic()
    seq = 0
    while not stop.is_set() and time.monotonic() - start < args.duration_s:
        due = start + seq * interval_s
        delay = due - time.monotonic()
        if delay > 0:
            stop.wait(delay)
            if stop.is_set():
                break
        sent_unix_ms = time.time() * 1e3
        t = threading.Thread(
            target=probe,
            args=(url.hostname, url.port, path, args.timeout_ms / 1e3, seq, sent_unix_ms, results, lock),
            daemon=True,
        )
        t.start()
        threads.append(t)
        threads = [t for t in threads if t.is_alive()]
        seq += 1
    for t in threads:
        t.join()
    results.sort(key=lambda r: r["seq"])
    with open(args.out, "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
