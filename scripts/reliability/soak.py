#!/usr/bin/env python3
"""Bounded loopback soak of assetd (issue 9): mixed traffic at a fixed rate for M minutes.

What it proves, for one server run under steady load:
  * zero 5xx, and no other unexpected answer (every request of the mix has one expected status);
  * zero lost acknowledged uploads: every upload that got its 201, unless the soak deleted it
    itself, is served at the end with exactly its bytes; every asset it deleted answers 404;
    bytes served during the run are compared too;
  * memory stays flat: the server's VmRSS (/proc/PID/status) is sampled every 5 s; first, last
    and max are reported, and growth of more than 20 % from the first sample after warm-up to
    the last one is flagged.

The traffic, per request (an upload is two: Create Asset, then the multipart POST of
`uploadDetails` with the file last to `uploadUrl`): uploads of 1-16 KiB files 24 %, creates left
pending 5 %, Get Asset 20 %, List Assets 10 %, Update Asset (PATCH) 8 %, Delete Asset 5 %, hosted
GETs of `hostedUrl` 28 %. Requests are paced open-loop: worker threads (in several processes, so
the Python side is not the bottleneck) each own a share of the rate and their own assets (so a
delete never races a read of the same asset), and a request that falls behind its slot is sent
at once; the achieved rate is reported next to the target.

The server is target/debug/assetd on a fresh data directory under target/ (SQLite, embedded
store), on a free loopback port, with `--rate-limit-per-minute 100000000`.

Usage: .venv/bin/python scripts/reliability/soak.py [--minutes 10] [--rate 1000]
           [--probe-seconds S] [--processes 2] [--threads 16] [--keep]
  --rate R           requests/s; `--rate half` runs a closed-loop probe first (--probe-seconds,
                     default 20) and soaks at half the capacity it measured.
  --probe-seconds S  with a numeric --rate, probe (and report capacity) before the soak as well.
Exit status 1 on a 5xx, an unexpected answer, a lost or wrong upload, RSS growth over 20 %, or a
server that died or did not stop cleanly.
"""
import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import queue
import pathlib
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
RSS_EVERY = 5.0
RSS_GROWTH_LIMIT = 0.20
EXTENSIONS = ["txt", "csv", "pdf", "png", "jpg"]
# Operation -> share of requests; an upload costs two requests.
MIX = {"upload": 24, "create": 5, "get": 20, "list": 10, "patch": 8, "delete": 5, "hosted": 28}
REQUESTS_PER_OP = {"upload": 2}
EXPECTED = {"create": 200, "post": 201, "get": 200, "list": 200, "patch": 200, "delete": 204, "hosted": 200,
            # the checks after the soak
            "verify": 200, "get_deleted": 404}

STARTED = []


def start_server(binary, data_dir, log):
    cmd = [str(binary), "--data-dir", str(data_dir), "serve", "--listen", "127.0.0.1:0",
           "--rate-limit-per-minute", "100000000"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETD_")}
    # Its own session: Ctrl-C reaches this script only, which then stops the server itself.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env, start_new_session=True)
    STARTED.append(proc)
    site = token = base = None
    for line in proc.stdout:
        line = line.strip()
        if m := re.match(r"assetd: created site ([0-9a-f]{24})$", line):
            site = m.group(1)
        elif m := re.match(r"assetd: created API token .*: ([0-9a-f]{64})$", line):
            token = m.group(1)
        elif m := re.match(r"assetd: listening on (http://\S+)", line):
            base = m.group(1)
            break
    if not (site and token and base):
        raise RuntimeError(f"assetd did not print its site, token and address (exit {proc.poll()})")
    return proc, site, token, base


def rss_kib(pid):
    """VmRSS and its parts (anonymous, file-backed, shared memory) in KiB, or None once gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "RssAnon", "RssFile", "RssShmem")))
    except FileNotFoundError:
        return None
    return {k: int(v.split()[0]) for k, v in fields.items()}


class Client:
    """One keep-alive connection and the counters of one worker thread."""

    def __init__(self, cfg, stats):
        self.cfg = cfg
        self.stats = stats
        self.host, self.port = urllib.parse.urlsplit(cfg["base"]).netloc.split(":")
        self.conn = None
        self.auth = {"Authorization": f"Bearer {cfg['token']}"}

    def request(self, kind, method, path, body=None, headers=None):
        """Sends one request; returns (status, body bytes) or (None, b"") on a transport error."""
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                break
            except (OSError, http.client.HTTPException) as e:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                # A keep-alive connection the server closed between requests: retry once, fresh.
                if attempt == 2 or not isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError,
                                                      BrokenPipeError)):
                    self.stats["transport_errors"] += 1
                    self.example("transport", f"{kind} {method} {path}: {type(e).__name__}: {e}")
                    return None, b""
        elapsed = time.monotonic() - started
        self.stats["requests"] += 1
        self.stats["latency"].setdefault(kind, []).append(elapsed)
        self.stats["status"][f"{kind} {response.status}"] = self.stats["status"].get(f"{kind} {response.status}", 0) + 1
        if response.status >= 500:
            self.stats["5xx"] += 1
            self.example("5xx", f"{kind} {method} {path} -> {response.status} {data[:200]!r}")
        elif response.status != EXPECTED[kind]:
            self.stats["unexpected"] += 1
            self.example("unexpected", f"{kind} {method} {path} -> {response.status} {data[:200]!r}")
        return response.status, data

    def example(self, what, text):
        examples = self.stats["examples"].setdefault(what, [])
        if len(examples) < 5:
            examples.append(text)

    def json(self, kind, method, path, payload=None):
        body = json.dumps(payload).encode() if payload is not None else None
        headers = dict(self.auth)
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.request(kind, method, path, body, headers)


def multipart(fields, file_name, content_type, data):
    boundary = "soak" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Worker:
    """One thread's share of the traffic, and the assets it owns."""

    def __init__(self, cfg, stats, seed):
        self.cfg = cfg
        self.client = Client(cfg, stats)
        self.stats = stats
        self.rng = random.Random(seed)
        self.owned = []      # (id, hosted path, md5) of acknowledged, not deleted uploads
        self.deleted = []    # ids this worker deleted
        self.ops, weights = zip(*[(op, share / REQUESTS_PER_OP.get(op, 1)) for op, share in MIX.items()])
        self.weights = weights

    def run(self, start_at, deadline, per_request):
        """Open loop: one request every `per_request` seconds from `start_at` (0 = closed loop)."""
        due = start_at
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if due > now:
                time.sleep(due - now)
            elif per_request and now - due > 1.0:
                # More than a second behind: note it and resume from now rather than bursting.
                self.stats["behind_s"] += now - due
                due = now
            op = self.rng.choices(self.ops, self.weights)[0]
            sent = self.do(op)
            due += per_request * max(sent, 1)

    def do(self, op):
        if op in ("get", "patch", "delete", "hosted") and not self.owned:
            op = "upload"
        c, cfg = self.client, self.cfg
        if op == "upload":
            return self.upload()
        if op == "create":
            name = f"pending-{self.rng.getrandbits(32):08x}.txt"
            c.json("create", "POST", f"/v2/sites/{cfg['site']}/assets",
                   {"fileName": name, "fileHash": hashlib.md5(name.encode()).hexdigest()})
            return 1
        if op == "list":
            c.json("list", "GET", f"/v2/sites/{cfg['site']}/assets?limit={self.rng.randint(1, 100)}"
                                  f"&offset={self.rng.randint(0, 2000)}")
            return 1
        index = self.rng.randrange(len(self.owned))
        asset_id, hosted, md5 = self.owned[index]
        if op == "get":
            c.json("get", "GET", f"/v2/assets/{asset_id}")
        elif op == "patch":
            c.json("patch", "PATCH", f"/v2/assets/{asset_id}",
                   {"displayName": f"renamed-{self.rng.getrandbits(24):06x}.txt",
                    "altText": f"alt {self.rng.getrandbits(16)}"})
        elif op == "delete":
            status, _ = c.json("delete", "DELETE", f"/v2/assets/{asset_id}")
            if status == 204:
                self.owned[index] = self.owned[-1]
                self.owned.pop()
                self.deleted.append(asset_id)
        elif op == "hosted":
            status, data = c.request("hosted", "GET", hosted)
            if status == 200 and hashlib.md5(data).hexdigest() != md5:
                self.stats["wrong_bytes"] += 1
                self.client.example("wrong_bytes", f"GET {hosted}: {len(data)} bytes, MD5 {hashlib.md5(data).hexdigest()}, expected {md5}")
        return 1

    def upload(self):
        c, cfg = self.client, self.cfg
        data = self.rng.randbytes(self.rng.randint(1, 16 * 1024))
        md5 = hashlib.md5(data).hexdigest()
        name = f"soak-{self.rng.getrandbits(32):08x}.{self.rng.choice(EXTENSIONS)}"
        status, body = c.json("create", "POST", f"/v2/sites/{cfg['site']}/assets", {"fileName": name, "fileHash": md5})
        if status != 200:
            return 1
        created = json.loads(body)
        form, content_type = multipart(created["uploadDetails"], name, created["contentType"], data)
        status, _ = c.request("post", "POST", urllib.parse.urlsplit(created["uploadUrl"]).path, form,
                              {"Content-Type": content_type})
        if status == 201:
            self.stats["acknowledged"] += 1
            self.owned.append((created["id"], urllib.parse.urlsplit(created["hostedUrl"]).path, md5))
        return 2

    def verify(self):
        """After the soak: every owned upload serves its bytes; every deleted asset is gone."""
        c = self.client
        for asset_id, hosted, md5 in self.owned:
            status, data = c.request("verify", "GET", hosted)
            if status != 200 or hashlib.md5(data).hexdigest() != md5:
                self.stats["lost"] += 1
                c.example("lost", f"asset {asset_id}: GET {hosted} -> {status}, {len(data)} bytes")
        for asset_id in self.deleted:
            status, _ = c.request("get_deleted", "GET", f"/v2/assets/{asset_id}", headers=c.auth)
            if status != 404:
                self.stats["deleted_still_there"] += 1
                c.example("deleted_still_there", f"asset {asset_id} deleted by the soak: GET -> {status}")
        self.stats["verified"] += len(self.owned)
        self.stats["verified_deleted"] += len(self.deleted)


def new_stats():
    return {"requests": 0, "5xx": 0, "unexpected": 0, "transport_errors": 0, "wrong_bytes": 0, "lost": 0,
            "deleted_still_there": 0, "acknowledged": 0, "verified": 0, "verified_deleted": 0, "behind_s": 0.0,
            "latency": {}, "status": {}, "examples": {}}


def merge(into, other):
    for key, value in other.items():
        if isinstance(value, dict):
            target = into.setdefault(key, {})
            for k, v in value.items():
                if isinstance(v, list):
                    target[k] = target.get(k, []) + v
                else:
                    target[k] = target.get(k, 0) + v
        else:
            into[key] = into.get(key, 0) + value


def process_main(cfg, index, start_at, deadline, per_request, verify, results):
    """One load process: `threads` workers, each with its own connection and assets."""
    # Ctrl-C is the parent's to handle: it terminates these processes in its clean-up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threads_stats = [new_stats() for _ in range(cfg["threads"])]
    workers = [Worker(cfg, s, hash((cfg["seed"], index, t))) for t, s in enumerate(threads_stats)]
    n = cfg["threads"] * cfg["processes"]
    threads = []
    for t, worker in enumerate(workers):
        # Spread the workers' first slots over one interval.
        offset = per_request * n * (t * cfg["processes"] + index) / n
        th = threading.Thread(target=worker.run, args=(start_at + offset, deadline, per_request * n))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    if verify:
        threads = [threading.Thread(target=w.verify) for w in workers]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    total = new_stats()
    for s in threads_stats:
        merge(total, s)
    results.put(total)


def run_load(cfg, seconds, rate, verify, server_pid, rss_samples=None):
    """Runs the load processes for `seconds` (closed loop when rate is None); returns merged stats."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.monotonic() + 0.5
    deadline = start_at + seconds
    per_request = 0.0 if rate is None else 1.0 / rate
    procs = [ctx.Process(target=process_main, args=(cfg, i, start_at, deadline, per_request, verify, results),
                         daemon=True)
             for i in range(cfg["processes"])]
    for p in procs:
        p.start()
        STARTED.append(p)
    next_sample = start_at
    while time.monotonic() < deadline:
        if rss_samples is not None and time.monotonic() >= next_sample:
            rss_samples.append((time.monotonic() - start_at, rss_kib(server_pid)))
            next_sample += RSS_EVERY
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    if rss_samples is not None:
        rss_samples.append((time.monotonic() - start_at, rss_kib(server_pid)))
    total = new_stats()
    collected = 0
    while collected < len(procs):
        try:
            merge(total, results.get(timeout=5))
            collected += 1
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                raise RuntimeError("a load process died without reporting")
    for p in procs:
        p.join()
    return total


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def cleanup():
    for proc in reversed(STARTED):
        if isinstance(proc, subprocess.Popen):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        elif proc.is_alive():
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", default="1000", help="requests/s, or `half` (of a probed capacity)")
    parser.add_argument("--probe-seconds", type=float, default=None)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16, help="worker threads per process")
    parser.add_argument("--warmup-seconds", type=float, default=None,
                        help="RSS baseline is the first sample after this (default: 60 s, or a fifth of short runs)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--bin", type=pathlib.Path, default=ROOT / "target/debug/assetd")
    args = parser.parse_args()
    seconds = args.minutes * 60
    warmup = args.warmup_seconds if args.warmup_seconds is not None else min(60.0, seconds / 5)
    probe = args.probe_seconds if args.probe_seconds is not None else (20.0 if args.rate == "half" else 0)

    (ROOT / "target/reliability").mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="soak-", dir=ROOT / "target/reliability"))
    log = open(work / "assetd.log", "w")
    server, site, token, base = start_server(args.bin, work / "data", log)
    cfg = {"base": base, "site": site, "token": token, "processes": args.processes, "threads": args.threads,
           "seed": args.seed if args.seed is not None else secrets.randbits(32)}
    print(f"soak: {args.bin.relative_to(ROOT) if args.bin.is_relative_to(ROOT) else args.bin} at {base}, "
          f"pid {server.pid}, {args.processes} processes x {args.threads} threads, work {work}", flush=True)
    failed = []
    try:
        capacity = None
        if probe:
            stats = run_load(cfg, probe, None, False, server.pid)
            capacity = stats["requests"] / probe
            print(f"soak: closed-loop probe, {probe:.0f} s: {capacity:,.0f} requests/s (5xx {stats['5xx']})", flush=True)
            if stats["5xx"] or stats["unexpected"]:
                failed.append(f"probe: {stats['5xx']} 5xx, {stats['unexpected']} unexpected")
        rate = capacity / 2 if args.rate == "half" else float(args.rate)
        print(f"soak: {rate:,.0f} requests/s for {seconds:.0f} s (RSS every {RSS_EVERY:.0f} s, warm-up {warmup:.0f} s)",
              flush=True)
        samples = []
        started = time.monotonic()
        stats = run_load(cfg, seconds, rate, True, server.pid, samples)
        wall = time.monotonic() - started
        if server.poll() is not None:
            failed.append(f"assetd died during the soak (exit {server.returncode})")
        code = server.poll()
        if code is None:
            server.terminate()
            code = server.wait(timeout=30)
            if code != 0:
                failed.append(f"assetd exited {code} on SIGTERM")

        # Report.
        verify_requests = stats["verified"] + stats["verified_deleted"]
        soak_requests = stats["requests"] - verify_requests
        achieved = soak_requests / seconds
        print(f"soak: {soak_requests:,} requests in {seconds:.0f} s = {achieved:,.0f} requests/s "
              f"(target {rate:,.0f}); behind schedule {stats['behind_s']:.1f} thread-seconds; "
              f"transport errors {stats['transport_errors']}", flush=True)
        for kind in sorted(stats["latency"]):
            lat = stats["latency"][kind]
            print(f"    {kind:12} n={len(lat):8,}  p50 {percentile(lat, 0.5) * 1000:7.1f} ms  "
                  f"p99 {percentile(lat, 0.99) * 1000:7.1f} ms  max {max(lat) * 1000:7.1f} ms", flush=True)
        print(f"    statuses: {dict(sorted(stats['status'].items()))}", flush=True)
        print(f"soak: 5xx {stats['5xx']}, unexpected answers {stats['unexpected']}, wrong bytes served "
              f"{stats['wrong_bytes']}; acknowledged uploads {stats['acknowledged']:,}, verified at the end "
              f"{stats['verified']:,} (the rest deleted by the soak: {stats['verified_deleted']:,}, each checked 404), "
              f"lost {stats['lost']}, deleted but still there {stats['deleted_still_there']}", flush=True)
        parts = [(t, kib) for t, kib in samples if kib is not None]
        rss = [(t, kib["VmRSS"]) for t, kib in parts]
        after = [kib for t, kib in rss if t >= warmup]
        first, last, peak = rss[0][1], rss[-1][1], max(kib for _, kib in rss)
        baseline = after[0] if after else first
        growth = (last - baseline) / baseline
        middle = after[len(after) // 2] if after else first
        print(f"soak: RSS (MiB) first {first / 1024:.1f}, after warm-up {baseline / 1024:.1f}, last {last / 1024:.1f}, "
              f"max {peak / 1024:.1f}; growth after warm-up {growth * 100:+.1f} % "
              f"(of which in the second half {(last - middle) / baseline * 100:+.1f} %; {len(rss)} samples)", flush=True)
        print("    parts (MiB), first -> last: " + ", ".join(
            f"{k} {parts[0][1].get(k, 0) / 1024:.1f} -> {parts[-1][1].get(k, 0) / 1024:.1f}"
            for k in ("RssAnon", "RssFile", "RssShmem")), flush=True)
        print("    RSS samples (s: MiB): " + ", ".join(f"{t:.0f}: {kib / 1024:.1f}" for t, kib in rss), flush=True)
        for what, examples in stats["examples"].items():
            for e in examples:
                print(f"    example {what}: {e}", flush=True)
        if stats["5xx"]:
            failed.append(f"{stats['5xx']} 5xx")
        if stats["unexpected"]:
            failed.append(f"{stats['unexpected']} unexpected answers")
        if stats["wrong_bytes"] or stats["lost"] or stats["deleted_still_there"]:
            failed.append(f"{stats['wrong_bytes']} wrong bytes, {stats['lost']} lost uploads, "
                          f"{stats['deleted_still_there']} deleted assets still there")
        if growth > RSS_GROWTH_LIMIT:
            failed.append(f"RSS grew {growth * 100:.1f} % after warm-up")
        if achieved < 0.9 * rate:
            print(f"soak: warning: achieved {achieved:,.0f} requests/s, under 90 % of the target {rate:,.0f}", flush=True)
        print(f"soak summary: minutes={args.minutes:g} rate={rate:.0f} achieved={achieved:.0f} requests={soak_requests} "
              f"5xx={stats['5xx']} unexpected={stats['unexpected']} acknowledged={stats['acknowledged']} "
              f"lost={stats['lost']} rss_first_mib={first / 1024:.1f} rss_last_mib={last / 1024:.1f} "
              f"rss_max_mib={peak / 1024:.1f} rss_growth_pct={growth * 100:.1f} "
              f"result={'FAIL' if failed else 'ok'} ({wall:.0f} s with verification)", flush=True)
    finally:
        cleanup()
        if not args.keep and not failed:
            shutil.rmtree(work, ignore_errors=True)
    for f in failed:
        print(f"FAIL: {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (e.g. `cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
