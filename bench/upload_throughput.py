#!/usr/bin/env python3
"""Step-2 ingest throughput of the embedded S3 POST endpoint, against the disk's own limit.

Starts the release binary on a fresh data directory, then for one file of --mib MiB measures,
in the same run and on the same filesystem:
  - `cp` of the file into the data directory followed by `sync` (the physical limit);
  - `curl -F` posting the file with its uploadDetails (assetd: stream, MD5, fsync, rename);
and prints MB/s, the ratio to `cp`, and the server's peak RSS growth. Repeats --runs times and
reports the median, because this machine is shared and noisy.

Usage: bench/upload_throughput.py [--mib 256] [--runs 3]   (after cargo build --release)
"""
import argparse
import hashlib
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent


def kib(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(field)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    work = pathlib.Path(tempfile.mkdtemp(prefix="assetd-bench-", dir=ROOT / "target"))
    source = work / "source.pdf"
    with open(source, "wb") as f:
        for _ in range(args.mib):
            f.write(os.urandom(1024 * 1024))
    file_hash = hashlib.md5(source.read_bytes()).hexdigest()
    data = work / "data"
    server = subprocess.Popen(
        [str(ROOT / "target/release/assetd"), "--data-dir", str(data), "serve", "--listen", "127.0.0.1:0",
         "--document-max-bytes", str(size), "--rate-limit-per-minute", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    site = token = base = None
    for line in server.stdout:
        if m := re.search(r"created site (\w+)", line):
            site = m.group(1)
        elif m := re.search(r"token .*: (\w+)$", line.strip()):
            token = m.group(1)
        elif m := re.search(r"listening on (http://\S+)", line):
            base = m.group(1)
            break
    rss_start = kib(server.pid, "VmRSS:")
    cp_times, post_times = [], []
    try:
        for run in range(args.runs):
            target = data / f"cp-{run}.pdf"
            start = time.perf_counter()
            shutil.copyfile(source, target)
            subprocess.run(["sync", str(target)], check=True)
            cp_times.append(time.perf_counter() - start)
            target.unlink()

            request = urllib.request.Request(
                f"{base}/v2/sites/{site}/assets",
                data=json.dumps({"fileName": f"bench-{run}.pdf", "fileHash": file_hash}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            created = json.load(urllib.request.urlopen(request))
            form = []
            for name, value in created["uploadDetails"].items():
                form += ["--form-string", f"{name}={value}"]
            start = time.perf_counter()
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *form,
                                  "-F", f"file=@{source};type=application/pdf", created["uploadUrl"]],
                                 check=True, capture_output=True, text=True).stdout
            post_times.append(time.perf_counter() - start)
            assert out == "201", out
        peak = kib(server.pid, "VmHWM:")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work)
    mb = size / 1e6
    cp_rate = mb / statistics.median(cp_times)
    post_rate = mb / statistics.median(post_times)
    print(f"| {args.mib} MiB file, median of {args.runs} | MB/s | vs cp+sync |")
    print("| --- | ---: | ---: |")
    print(f"| cp + sync (disk limit) | {cp_rate:.0f} | 1.00 |")
    print(f"| assetd POST (curl -F) | {post_rate:.0f} | {post_rate / cp_rate:.2f} |")
    print(f"\nassetd RSS: {rss_start / 1024:.1f} MiB at start, peak {peak / 1024:.1f} MiB "
          f"(growth {(peak - rss_start) / 1024:.1f} MiB)")


if __name__ == "__main__":
    main()
