#!/usr/bin/env python3
"""A job service that breaks the worker contract on purpose, for the
conformance test (tests/drills/conformance.rs).

It keeps most of docs/worker-api.md: /health, the job's progress, a WAV of the
right length, a well-formed manifest, the error answers. It breaks four
clauses, each the way a real server might:

- submit: a new job answers 200 instead of 201;
- submit.repeat: the repeated POST is another new job, still with 200;
- status.lease: a running job shows no owner (the lease is not visible);
- manifest.audio: the manifest's chunk hashes are made up, not the audio's.

Usage: broken_worker.py PORTFILE. It listens on a free 127.0.0.1 port, writes
the port to PORTFILE, and serves until SIGTERM. Standard library only.
"""

import http.server
import json
import os
import re
import struct
import sys
import threading
import time

SPF = 3200  # samples a frame
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
JOBS = {}
LOCK = threading.Lock()


def frames_of(script):
    total = 0
    for turn in script["turns"]:
        words = len(turn["text"].split())
        total += max(1, round(words / 2.5 * 7.5))
    return total


def status_of(job_id):
    job = JOBS[job_id]
    elapsed = time.monotonic() - job["created"]
    # Three chunks a second of wall time: the job runs for a second or two.
    chunks = min(job["chunks_total"], int(elapsed * 3))
    frames = min(job["frames_total"], chunks * job["chunk_frames"])
    done = chunks == job["chunks_total"]
    return {
        "id": job_id,
        "state": "done" if done else "running",
        "frames_done": frames,
        "frames_total": job["frames_total"],
        "chunks_committed": chunks,
        "chunks_total": job["chunks_total"],
        "owner": None,  # broken: the lease is not shown
        "epoch": 0,
        "frames_synthesized": frames,
        "frames_lost": 0,
        "error": None,
    }


def wav(samples):
    data = b"\x00\x00" * samples
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message):
        self.send(status, {"error": message})

    def do_GET(self):
        if self.path == "/health":
            checks = [{"name": "store", "ok": True, "detail": "in memory"}]
            return self.send(200, {"ok": True, "worker": "broken", "backend": "cpu",
                                   "checks": checks, "contract_version": "1.0"})
        m = re.match(r"^/v1/jobs/([^/]+)(/audio|/manifest)?$", self.path)
        if not m:
            return self.error(404, "no such route")
        job_id, part = m.group(1), m.group(2)
        if not ID_RE.match(job_id):
            return self.error(400, "not a job id")
        with LOCK:
            if job_id not in JOBS:
                return self.error(404, f"no job {job_id}")
            status = status_of(job_id)
            job = JOBS[job_id]
        if part is None:
            return self.send(200, status)
        done_frames = status["frames_done"]
        if part == "/audio":
            return self.send(200, wav(done_frames * SPF), "audio/wav")
        chunks, frame = [], 0
        for i in range(status["chunks_committed"]):
            n = min(job["chunk_frames"], job["frames_total"] - frame)
            chunks.append({"index": i, "first_frame": frame, "frames": n,
                           "first_sample": frame * SPF, "sample_count": n * SPF,
                           "blake3": f"{i:064x}",  # broken: not the audio's hash
                           "epoch": 1, "writer": "broken"})
            frame += n
        return self.send(200, {"job_id": job_id, "sample_rate": 24000, "samples_per_frame": SPF,
                               "chunk_frames": job["chunk_frames"], "frames_total": job["frames_total"],
                               "total_samples": job["frames_total"] * SPF, "chunks": chunks})

    def do_POST(self):
        if self.path != "/v1/jobs":
            return self.error(404, "no such route")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            req = json.loads(body)
        except ValueError:
            return self.error(400, "the body is not JSON")
        if not isinstance(req, dict) or set(req) - {"script", "options"} or "script" not in req:
            return self.error(400, "unknown or missing field")
        script = req["script"]
        if not script.get("turns"):
            return self.error(422, "the script has no turns")
        chunk_frames = req.get("options", {}).get("chunk_frames", 8)
        frames = frames_of(script)
        with LOCK:
            job_id = f"job-{len(JOBS) + 1:04d}"
            JOBS[job_id] = {"created": time.monotonic(), "frames_total": frames,
                            "chunk_frames": chunk_frames,
                            "chunks_total": -(-frames // chunk_frames)}
            status = status_of(job_id)
        self.send(200, status)  # broken: a new job is 201


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
