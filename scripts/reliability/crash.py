#!/usr/bin/env python3
"""Crash consistency of uploads (issue 9): SIGKILL assetd mid-upload, restart, check everything.

What it proves, for each cycle and over the data accumulated by all cycles:
  * no partial or temp object is visible: every object in the store belongs to an asset row
    (or to a queued blob deletion) and holds exactly the bytes its row promised (MD5 equals
    `file_hash`); `objects/.tmp` is empty after a restart (assetd clears it at start);
  * the metadata survives: the SQLite file passes `PRAGMA integrity_check` (and
    `foreign_key_check`) both as the crash left it and while the restarted server runs;
  * no uploaded asset lacks its bytes: every row in state 'uploaded' has its object, with the
    row's size and an MD5 equal to its `file_hash`;
  * zero lost acknowledged work: every create the client saw answered 200 has its row, and every
    acknowledged upload is 'uploaded' with the right bytes, served back exactly at `hostedUrl`;
  * no orphaned bytes after a restart and a sweep (the check phase runs with
    `--upload-expiry-secs 2 --sweep-interval-secs 1`): no object without a row. Pending rows may
    keep an object: a kill between the object's rename and the row's update leaves a complete,
    unserved object that a retried upload replaces or the sweep removes 15 minutes after expiry.

A cycle: start assetd; 100 uploads run concurrently (a thread pool; each does the Create Asset
call, then the multipart POST of `uploadDetails` with the file last to `uploadUrl`, like
tests/python/test_upload.py); after a random number k (0-199) of assetd's 200 answers of the
cycle (create and upload POST; with S3, create and the confirming GET), plus a random 0-50 ms,
assetd gets SIGKILL. Then the on-disk state is checked, assetd restarts on the same data
directory in check mode, and the checks above run against the live server.

Configurations (`--config`):
  sqlite       SQLite metadata and the embedded store under the data directory; "acknowledged"
               means the POST to assetd's own S3 endpoint answered 201.
  postgres-s3  A fresh PostgreSQL database (created and dropped on
               postgres://postgres@127.0.0.1:5432) and SeaweedFS as the S3 service
               (scripts/seaweedfs.sh). Uploads go to SeaweedFS directly and assetd confirms them
               when an asset is read, so "acknowledged" means SeaweedFS answered 201 and a later
               GET /v2/assets/{id} showed the asset; every upload SeaweedFS accepted must be
               confirmed after the restart. Objects are listed with boto3. There is no SQLite file
               to check; PostgreSQL itself is not killed.

Usage: .venv/bin/python scripts/reliability/crash.py [--cycles 50] [--config sqlite|postgres-s3]
           [--uploads 100] [--max-minutes M] [--seed S] [--keep]
Prints one line per cycle and a summary line; exits 1 on any violation.
"""
import argparse
import concurrent.futures
import hashlib
import os
import pathlib
import random
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADMIN_DB = "postgres://postgres@127.0.0.1:5432/test"
# Set once SeaweedFS is up: scripts/seaweedfs.sh picks free ports.
S3_ENDPOINT = None
S3_KEY = "AKIATESTLOCAL000001"
S3_SECRET = "testsecretkeytestsecretkey0000000000001"
BUCKET = "assetd"
# Documents only: random bytes are fine for them, and their limit (10 MB) is above our sizes.
EXTENSIONS = ["txt", "pdf", "csv", "docx", "odt"]
# How long the check-phase server runs before the checks, so its sweep (every second) has run.
SWEEP_WAIT = 2.5

STARTED = []  # every process this script started, killed on exit


def payload(seed, size):
    return random.Random(seed).randbytes(size)


def random_size(rng):
    # Mostly small files; a third large enough that a kill often lands mid-body or mid-fsync.
    return rng.randint(1, 64 * 1024) if rng.random() < 0.67 else rng.randint(64 * 1024, 1024 * 1024)


class Assetd:
    """One run of the binary on a data directory; reads the address (and first-run credentials)
    it prints."""

    def __init__(self, args, data_dir, log, extra):
        cmd = [str(args.bin), "--data-dir", str(data_dir), *args.db_args, "serve",
               "--listen", "127.0.0.1:0", "--rate-limit-per-minute", "100000000", *args.storage_args, *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETD_")}
        # Its own session: Ctrl-C reaches this script only, which then stops the server itself.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                                     start_new_session=True)
        STARTED.append(self.proc)
        self.site = self.token = self.base = None
        timer = threading.Timer(60, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                line = line.strip()
                if m := re.match(r"assetd: created site ([0-9a-f]{24})$", line):
                    self.site = m.group(1)
                elif m := re.match(r"assetd: created API token .*: ([0-9a-f]{64})$", line):
                    self.token = m.group(1)
                elif m := re.match(r"assetd: listening on (http://\S+)", line):
                    self.base = m.group(1)
                    break
        finally:
            timer.cancel()
        if not self.base:
            raise RuntimeError(f"assetd did not start (exit {self.proc.poll()}); see {log.name}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "killed after 20 s"
        finally:
            self.proc.stdout.close()


class Job:
    def __init__(self, rng, cycle, n):
        self.name = f"c{cycle}-{n}.{rng.choice(EXTENSIONS)}"
        self.seed = rng.getrandbits(64)
        self.size = random_size(rng)
        self.md5 = hashlib.md5(payload(self.seed, self.size)).hexdigest()
        self.cycle = cycle
        self.id = None
        self.storage_key = None
        self.created = False   # Create Asset answered 200
        self.stored = False    # the upload POST answered 201 (assetd, or SeaweedFS)
        self.acked = False     # acknowledged, as the configuration defines it
        self.acked_live = False  # acknowledged before the kill (with S3, otherwise after the restart)
        self.status = []       # what each step answered, for the report


class Uploads:
    """Runs a cycle's jobs concurrently and counts assetd's answers, so the kill can wait for k of
    them: two per upload (create and POST; with S3, create and the confirming GET)."""

    def __init__(self, server, site, token, s3):
        self.base, self.site, self.token, self.s3 = server.base, site, token, s3
        self.local = threading.local()
        self.finished = 0
        self.answers = 0
        self.cond = threading.Condition()
        self.five_xx = []
        self.jobs = []

    def session(self):
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def note(self, job, step, response):
        job.status.append(f"{step}:{response.status_code}")
        if not (self.s3 and step == "post"):
            with self.cond:
                self.answers += 1
                self.cond.notify_all()
        if response.status_code >= 500:
            self.five_xx.append(f"{step} {job.name} -> {response.status_code} {response.text[:200]}")

    def run(self, job):
        try:
            self.upload(job)
        except requests.RequestException as e:
            job.status.append(type(e).__name__)
        finally:
            with self.cond:
                self.finished += 1
                self.cond.notify_all()

    def upload(self, job):
        http = self.session()
        auth = {"Authorization": f"Bearer {self.token}"}
        data = payload(job.seed, job.size)
        r = http.post(f"{self.base}/v2/sites/{self.site}/assets", headers=auth,
                      json={"fileName": job.name, "fileHash": job.md5}, timeout=30)
        self.note(job, "create", r)
        if r.status_code != 200:
            return
        created = r.json()
        job.id, job.created = created["id"], True
        job.storage_key = created["uploadDetails"]["key"]
        r = http.post(created["uploadUrl"], data=created["uploadDetails"],
                      files={"file": (job.name, data, created["contentType"])}, timeout=60)
        self.note(job, "post", r)
        if r.status_code != 201:
            return
        job.stored = True
        if not self.s3:
            job.acked = job.acked_live = True
            return
        r = http.get(f"{self.base}/v2/assets/{job.id}", headers=auth, timeout=30)
        self.note(job, "get", r)
        job.acked = job.acked_live = r.status_code == 200

    def wait_for(self, k):
        with self.cond:
            self.cond.wait_for(lambda: self.answers >= k or self.finished == len(self.jobs), timeout=120)


# --- the stores ----------------------------------------------------------------------------------

class SqliteDisk:
    """SQLite metadata and the embedded object store, read from the data directory."""

    def __init__(self, data_dir):
        self.data = data_dir
        self.db = data_dir / "assetd.sqlite3"
        self.objects = data_dir / "objects"
        self.verified = {}  # path -> (inode, size, mtime_ns, md5); objects are immutable

    def query(self, sql, db=None):
        conn = sqlite3.connect(f"file:{db or self.db}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def integrity(self, db=None):
        problems = []
        result = self.query("PRAGMA integrity_check", db)
        if result != [("ok",)]:
            problems.append(f"PRAGMA integrity_check: {result[:10]}")
        fk = self.query("PRAGMA foreign_key_check", db)
        if fk:
            problems.append(f"PRAGMA foreign_key_check: {fk[:10]}")
        return problems

    def crash_image_integrity(self, scratch):
        """integrity_check on a copy of the files exactly as the kill left them (the copy's WAL is
        recovered on open, as the next start would do), without touching the real ones."""
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        for suffix in ("", "-wal"):
            src = self.db.with_name(self.db.name + suffix)
            if src.exists():
                shutil.copy2(src, scratch / src.name)
        conn = sqlite3.connect(scratch / self.db.name)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchall()
            fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        finally:
            conn.close()
        problems = [] if result == [("ok",)] else [f"crash image PRAGMA integrity_check: {result[:10]}"]
        return problems + ([f"crash image PRAGMA foreign_key_check: {fk[:10]}"] if fk else [])

    def temp_files(self):
        tmp = self.objects / ".tmp"
        return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []

    def rows(self):
        return {key: {"id": i, "file_hash": h, "size": s, "state": st}
                for i, key, h, s, st in self.query(
                    "SELECT id, storage_key, file_hash, size, state FROM assets")}

    def queued_deletions(self):
        return {key for (key,) in self.query("SELECT storage_key FROM blob_deletions")}

    def object_md5s(self):
        """key -> (size, md5) of every object outside .tmp."""
        out = {}
        for path in self.objects.rglob("*"):
            rel = path.relative_to(self.objects)
            if rel.parts[0] == ".tmp" or not path.is_file():
                continue
            st = path.stat()
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            cached = self.verified.get(path)
            if cached is None or cached[:3] != stamp:
                cached = (*stamp, hashlib.md5(path.read_bytes()).hexdigest())
                self.verified[path] = cached
            out[rel.as_posix()] = (st.st_size, cached[3])
        return out


class PostgresS3:
    """PostgreSQL metadata (through psql) and SeaweedFS objects (through boto3)."""

    def __init__(self, database_url):
        import boto3
        from botocore.config import Config
        self.url = database_url
        self.s3 = boto3.client("s3", endpoint_url=S3_ENDPOINT, region_name="us-east-1",
                               aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
                               config=Config(s3={"addressing_style": "path"}))

    def query(self, sql):
        out = subprocess.run(["psql", self.url, "-XqAt", "-F", "\t", "-c", sql],
                             check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def integrity(self):
        return []  # nothing to check on our side: PostgreSQL is not killed, only assetd

    def temp_files(self):
        return []

    def rows(self):
        return {key: {"id": i, "file_hash": h, "size": int(s) if s else None, "state": st}
                for i, key, h, s, st in self.query(
                    "SELECT id, storage_key, file_hash, COALESCE(size::text, ''), state FROM assets")}

    def queued_deletions(self):
        return {key for (key,) in self.query("SELECT storage_key FROM blob_deletions")}

    def object_md5s(self):
        """key -> (size, ETag); a POST upload is single-part, so its ETag is the bytes' MD5."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = (obj["Size"], obj["ETag"].strip('"'))
        return out


# --- the checks ----------------------------------------------------------------------------------

def check(store, server, token, jobs, cycle_jobs, s3):
    """Everything a restarted, swept server must satisfy. Returns (violations, notes)."""
    violations, notes = [], {}
    auth = {"Authorization": f"Bearer {token}"}
    http = requests.Session()

    if s3:
        # assetd confirms an S3 upload when the asset is read: read every one SeaweedFS accepted.
        for job in jobs:
            if job.stored and not job.acked:
                r = http.get(f"{server.base}/v2/assets/{job.id}", headers=auth, timeout=30)
                if r.status_code == 200:
                    job.acked = True
                else:
                    violations.append(f"upload {job.id} ({job.name}, cycle {job.cycle}) was stored by S3 "
                                      f"but GET /v2/assets/{job.id} answers {r.status_code} after restart")

    temps = store.temp_files()
    if temps:
        violations.append(f"objects/.tmp not empty after restart: {temps[:5]}")
    violations += store.integrity()
    rows = store.rows()
    queued = store.queued_deletions()
    objects = store.object_md5s()

    pending_with_object = 0
    for key, (size, md5) in objects.items():
        row = rows.get(key)
        if row is None:
            if key in queued:
                notes["objects queued for deletion"] = notes.get("objects queued for deletion", 0) + 1
            else:
                violations.append(f"orphaned object {key}: no asset row and no queued deletion")
            continue
        if md5 != row["file_hash"]:
            violations.append(f"object {key} ({row['state']}) has MD5 {md5}, its row promises {row['file_hash']}")
        elif row["state"] == "uploaded" and size != row["size"]:
            violations.append(f"object {key} has {size} bytes, its row says {row['size']}")
        if row["state"] != "uploaded":
            pending_with_object += 1
        if row["state"] != "uploaded" and not s3:
            # Complete but not marked uploaded: must not be served. (With S3 a read may confirm it.)
            r = http.get(f"{server.base}/files/{key}", timeout=30)
            if r.status_code != 404:
                violations.append(f"object {key} of a {row['state']} asset is served: GET /files/{key} -> {r.status_code}")
    notes["complete objects of pending rows"] = pending_with_object

    for key, row in rows.items():
        if row["state"] == "uploaded" and key not in objects:
            violations.append(f"asset {row['id']} is 'uploaded' but its object {key} is missing")

    by_id = {row["id"]: (key, row) for key, row in rows.items()}
    for job in jobs:
        if job.created and job.id not in by_id:
            violations.append(f"lost create: asset {job.id} ({job.name}, cycle {job.cycle}) answered 200, has no row")
            continue
        if not job.acked:
            continue
        key, row = by_id[job.id]
        if row["state"] != "uploaded":
            violations.append(f"lost upload: asset {job.id} ({job.name}, cycle {job.cycle}) was acknowledged, "
                              f"row is '{row['state']}'")
        elif objects.get(key, (None, None))[1] != job.md5:
            violations.append(f"lost upload: asset {job.id} acknowledged with MD5 {job.md5}, "
                              f"object has {objects.get(key, (None, 'nothing'))[1]}")

    # This cycle's acknowledged uploads, end to end over HTTP: the asset and its exact bytes.
    for job in cycle_jobs:
        if not job.acked:
            continue
        r = http.get(f"{server.base}/v2/assets/{job.id}", headers=auth, timeout=30)
        if r.status_code != 200:
            violations.append(f"acknowledged asset {job.id}: GET /v2/assets -> {r.status_code}")
            continue
        got = http.get(r.json()["hostedUrl"], timeout=60)
        if got.status_code != 200 or got.content != payload(job.seed, job.size):
            violations.append(f"acknowledged asset {job.id}: hostedUrl -> {got.status_code}, "
                              f"{len(got.content)} bytes, expected {job.size} bytes with MD5 {job.md5}")
    notes["objects"] = len(objects)
    notes["rows"] = len(rows)
    return violations, notes


# --- setup of the configurations -----------------------------------------------------------------

def start_seaweedfs(work):
    """scripts/seaweedfs.sh's seaweedfs_start, in a bash that stays up until we stop it; returns
    the process and its S3 endpoint (the script picks free ports)."""
    log = open(work / "seaweedfs-helper.log", "w")
    proc = subprocess.Popen(
        ["bash", "-c", "source scripts/seaweedfs.sh; trap 'seaweedfs_stop; exit 0' TERM INT; "
                       "seaweedfs_start || exit 1; echo SEAWEEDFS_READY $SEAWEED_S3_PORT; wait"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    STARTED.append(proc)
    for line in proc.stdout:
        if line.startswith("SEAWEEDFS_READY "):
            return proc, f"http://127.0.0.1:{line.split()[1]}"
    raise RuntimeError(f"SeaweedFS did not start; see {log.name} and target/seaweedfs-test-*/weed.log")


def cleanup():
    for proc in reversed(STARTED):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--config", choices=["sqlite", "postgres-s3"], default="sqlite")
    parser.add_argument("--uploads", type=int, default=100, help="concurrent uploads per cycle")
    parser.add_argument("--max-minutes", type=float, help="start no new cycle after this long")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--bin", type=pathlib.Path, default=ROOT / "target/debug/assetd")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    rng = random.Random(seed)
    s3 = args.config == "postgres-s3"

    (ROOT / "target/reliability").mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"crash-{args.config}-", dir=ROOT / "target/reliability"))
    data = work / "data"
    log = open(work / "assetd.log", "a")
    database = None
    args.db_args, args.storage_args = [], []
    print(f"crash: config={args.config} cycles={args.cycles} uploads/cycle={args.uploads} seed={seed} work={work}",
          flush=True)
    start = time.monotonic()
    totals = {"cycles": 0, "uploads": 0, "created": 0, "acked": 0, "kills": 0, "5xx": 0}
    violations = []
    try:
        if s3:
            database = "assetd_crash_" + secrets.token_hex(6)
            subprocess.run(["psql", ADMIN_DB, "-q", "-c", f"CREATE DATABASE {database}"], check=True)
            args.db_args = ["--database-url", ADMIN_DB.rsplit("/", 1)[0] + "/" + database]
            global S3_ENDPOINT
            _, S3_ENDPOINT = start_seaweedfs(work)
            args.storage_args = ["--storage", "s3", "--s3-endpoint", S3_ENDPOINT, "--s3-access-key-id", S3_KEY,
                                 "--s3-secret-access-key", S3_SECRET, "--bucket", BUCKET]
            store = PostgresS3(args.db_args[1])
        else:
            store = SqliteDisk(data)
        site = token = None
        jobs = []
        for cycle in range(1, args.cycles + 1):
            if args.max_minutes and time.monotonic() - start > args.max_minutes * 60:
                print(f"crash: --max-minutes {args.max_minutes} reached; stopping before cycle {cycle}", flush=True)
                break
            server = Assetd(args, data, log, [])
            site, token = site or server.site, token or server.token
            cycle_jobs = [Job(rng, cycle, n) for n in range(args.uploads)]
            jobs += cycle_jobs
            uploads = Uploads(server, site, token, s3)
            uploads.jobs = cycle_jobs
            k = rng.randrange(2 * args.uploads)
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.uploads) as pool:
                for job in cycle_jobs:
                    pool.submit(uploads.run, job)
                uploads.wait_for(k)
                time.sleep(rng.uniform(0, 0.05))
                finished_at_kill, answers_at_kill = uploads.finished, uploads.answers
                server.kill()
            totals["kills"] += 1
            temps_after_kill = len(store.temp_files())
            cycle_violations = []
            if not s3:
                cycle_violations += store.crash_image_integrity(work / "crash-image")
            checker = Assetd(args, data, log, ["--upload-expiry-secs", "2", "--sweep-interval-secs", "1"])
            time.sleep(SWEEP_WAIT)
            found, notes = check(store, checker, token, jobs, cycle_jobs, s3)
            cycle_violations += found
            code = checker.stop()
            if code != 0:
                cycle_violations.append(f"check-phase assetd exited {code} on SIGTERM")
            created = sum(j.created for j in cycle_jobs)
            acked = sum(j.acked for j in cycle_jobs)
            acked_live = sum(j.acked_live for j in cycle_jobs)
            totals["cycles"] += 1
            totals["uploads"] += len(cycle_jobs)
            totals["created"] += created
            totals["acked"] += acked
            totals["5xx"] += len(uploads.five_xx)
            violations += [f"cycle {cycle}: {v}" for v in cycle_violations]
            late = f" ({acked - acked_live} confirmed after the restart)" if s3 else ""
            print(f"cycle {cycle:3}: kill after {answers_at_kill:3}/{2 * args.uploads} answers of assetd "
                  f"({finished_at_kill:3} uploads done); created {created:3}, acknowledged {acked:3}{late}; temp files left by the kill {temps_after_kill}; "
                  f"objects {notes['objects']}, rows {notes['rows']}, complete objects of pending rows "
                  f"{notes['complete objects of pending rows']}; 5xx {len(uploads.five_xx)}; "
                  f"violations {len(cycle_violations)}", flush=True)
            for v in cycle_violations + [f"5xx during uploads: {x}" for x in uploads.five_xx]:
                print(f"    {v}", flush=True)
    finally:
        cleanup()
        if database:
            subprocess.run(["psql", ADMIN_DB, "-q", "-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"],
                           check=False)
        if not args.keep and not violations:
            shutil.rmtree(work, ignore_errors=True)
    duration = time.monotonic() - start
    print(f"crash summary: config={args.config} cycles={totals['cycles']} uploads={totals['uploads']} "
          f"created={totals['created']} acknowledged={totals['acked']} kills={totals['kills']} "
          f"5xx={totals['5xx']} violations={len(violations)} duration={duration:.0f}s seed={seed}", flush=True)
    if violations:
        print(f"violations (work directory kept: {work}):")
        for v in violations:
            print(f"  {v}")
        return 1
    return 0


if __name__ == "__main__":
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (e.g. `cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
