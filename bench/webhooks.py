#!/usr/bin/env python3
"""Webhook delivery latency under load: event to receiver, p50/p90/p99/max.

    bench/webhooks.py [--binary target/release/assetd] [--rate 50] [--duration 30] [--workers 8]

Starts assetd on a fresh data directory (SQLite + the embedded store; `--database-url` for
PostgreSQL), a receiver on loopback (opened with `--webhook-allow 127.0.0.0/8`) and two webhooks,
`asset_created` and `asset_changed`. Then, at a steady `--rate` of operations per second for
`--duration` seconds, alternately uploads a new asset (create + the S3 POST form: its event comes
when the bytes have verified) and renames an uploaded one (PATCH). An event's latency is from the
moment the client *sent* the request that caused it (upload form or PATCH) to the moment the
receiver has read the delivery, so it includes that request's own time. Standard library only.
Prints one Markdown line per trigger and the totals; exits 1 if any event never arrived.
"""

import argparse
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor


def request(method, url, token=None, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    with urllib.request.urlopen(req, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def post_form(url, fields, file_bytes, content_type):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + file_bytes
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    req = urllib.request.Request(url, data=b"".join(parts), method="POST")
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(req, timeout=30) as response:
        response.read()


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections under load, and each dropped SYN
    # costs the sender a 1 s retransmission: the receiver's own delay, not assetd's.
    request_queue_size = 256

    def __init__(self):
        self.arrived = {}  # (trigger, key) -> time.monotonic() of the first arrival
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.monotonic()
        event = json.loads(body)
        payload = event["payload"]
        key = payload["id"] if event["triggerType"] == "asset_created" else payload["displayName"]
        with self.server.lock:
            self.server.arrived.setdefault((event["triggerType"], key), now)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.environ.get("ASSETD_BENCH_BINARY", "target/release/assetd"))
    parser.add_argument("--rate", type=float, default=50.0, help="operations per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=8, help="client threads")
    parser.add_argument("--database-url", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()

    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    data_dir = tempfile.mkdtemp(prefix="assetd-bench-webhooks-")
    command = [args.binary, "--data-dir", data_dir]
    if args.database_url:
        command += ["--database-url", args.database_url]
    command += ["serve", "--listen", "127.0.0.1:0", "--rate-limit-per-minute", "100000000",
                "--webhook-allow", "127.0.0.0/8"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        site = token = base = None
        for line in server.stdout:
            if m := re.match(r"assetd: created site ([0-9a-f]{24})$", line.strip()):
                site = m[1]
            elif m := re.match(r"assetd: created API token .*: ([0-9a-f]{64})$", line.strip()):
                token = m[1]
            elif m := re.match(r"assetd: listening on (http://\S+)", line.strip()):
                base = m[1]
                break
        api = f"{base}/v2"
        hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        for trigger in ("asset_created", "asset_changed"):
            request("POST", f"{api}/sites/{site}/webhooks", token, {"triggerType": trigger, "url": hook_url})

        sent = {}  # (trigger, key) -> time.monotonic() the causing request was sent
        uploaded = []
        lock = threading.Lock()

        def upload(n):
            content = f"webhook bench {n} {uuid.uuid4().hex}".encode()
            created = request("POST", f"{api}/sites/{site}/assets", token,
                              {"fileName": f"bench-{n}.txt", "fileHash": hashlib.md5(content).hexdigest()})
            started = time.monotonic()
            post_form(created["uploadUrl"], created["uploadDetails"], content, created["contentType"])
            with lock:
                sent[("asset_created", created["id"])] = started
                uploaded.append(created["id"])

        def rename(n):
            with lock:
                asset = uploaded[n % len(uploaded)] if uploaded else None
            if asset is None:
                return upload(n)
            name = f"renamed-{n}-{uuid.uuid4().hex[:8]}.txt"
            started = time.monotonic()
            request("PATCH", f"{api}/assets/{asset}", token, {"displayName": name})
            with lock:
                sent[("asset_changed", name)] = started

        operations = int(args.rate * args.duration)
        begin = time.monotonic()
        with ThreadPoolExecutor(args.workers) as pool:
            futures = []
            for n in range(operations):
                delay = begin + n / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(upload if n % 2 == 0 else rename, n))
            for future in futures:
                future.result()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with receiver.lock:
                if all(k in receiver.arrived for k in sent):
                    break
            time.sleep(0.05)
        missing = [k for k in sent if k not in receiver.arrived]
        print(f"{len(sent)} events at {args.rate:g} operations/s for {args.duration:g} s; "
              f"{len(missing)} never arrived")
        print("| trigger | events | p50 ms | p90 ms | p99 ms | max ms |")
        print("| --- | --- | --- | --- | --- | --- |")
        groups = {"asset_created": [], "asset_changed": []}
        for key, started in sent.items():
            if key in receiver.arrived:
                groups[key[0]].append((receiver.arrived[key] - started) * 1000)
        groups["all"] = groups["asset_created"] + groups["asset_changed"]
        for trigger, values in groups.items():
            if values:
                print(f"| {trigger} | {len(values)} | {percentile(values, 50):.1f} | "
                      f"{percentile(values, 90):.1f} | {percentile(values, 99):.1f} | {max(values):.1f} |")
        return 1 if missing else 0
    finally:
        server.terminate()
        server.wait(timeout=30)
        receiver.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
