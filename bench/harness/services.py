"""The servers a benchmark run starts: assetd, the FastAPI peer, SeaweedFS, nginx; and the
throw-away PostgreSQL database.

Everything binds to 127.0.0.1 on ports picked free at start, keeps its files under the run's
work directory (under `target/`), and is registered with `Children` so it is always stopped.
"""
import json
import os
import pathlib
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request

from .procs import free_port, wait_for_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
ASSETD = pathlib.Path(os.environ.get("ASSETD_BENCH_BINARY", ROOT / "target/release/assetd"))
PEER_DIR = ROOT / "bench/peers"
PEER_PYTHON = ROOT / "bench/.venv/bin/python"
WEED = ROOT / ".venv/bin/weed"
POSTGRES_ADMIN_URL = os.environ.get(
    "ASSETD_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
# The S3 identity of both the peer's presigner and SeaweedFS (which checks the signatures).
S3_ACCESS_KEY = "AKIABENCHLOCAL000001"
S3_SECRET_KEY = "benchsecretkeybenchsecretkey000000000001"
BUCKET = "assetd"
REGION = "us-east-1"


def http_json(method, url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def wait_for_lines(path, child, patterns, timeout=60):
    """Waits until `path` has a line matching each regex in `patterns`; returns the matches."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = pathlib.Path(path).read_text(errors="replace") if pathlib.Path(path).exists() else ""
        found = [re.search(p, text, re.M) for p in patterns]
        if all(found):
            return found
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} did not start within {timeout} s:\n{child.log_tail()}")


class Assetd:
    """The release binary on its own data directory, SQLite or PostgreSQL metadata."""

    def __init__(self, children, work, name, database_url=None, extra=(), binary=None):
        self.children, self.name = children, name
        self.binary = binary or ASSETD
        self.data = work / name
        self.database_url, self.extra = database_url, list(extra)
        self.site = self.token = self.base = None
        self.child = None
        self.starts = 0

    def argv(self):
        argv = [str(self.binary), "--data-dir", str(self.data)]
        if self.database_url:
            argv += ["--database-url", self.database_url]
        return argv + ["serve", "--listen", "127.0.0.1:0",
                       "--rate-limit-per-minute", "100000000", *self.extra]

    def start(self):
        self.starts += 1
        self.data.mkdir(parents=True, exist_ok=True)
        out = self.data.parent / f"{self.name}.stdout.{self.starts}"
        log = self.data.parent / f"{self.name}.log"
        with open(out, "wb") as stdout:
            self.child = self.children.start(self.name, self.argv(), log, stdout=stdout)
        # Site and token are printed on the first start only.
        patterns = [r"listening on (http://\S+)"]
        if self.site is None:
            patterns += [r"created site (\w+)", r"created API token .*: (\w+)$"]
        found = wait_for_lines(out, self.child, patterns)
        self.base = found[0].group(1)
        if self.site is None:
            self.site, self.token = found[1].group(1), found[2].group(1)
        return self

    def stop(self):
        self.children.stop(self.child)

    @property
    def pid(self):
        return self.child.pid

    def create(self, file_name, file_hash):
        return http_json("POST", f"{self.base}/v2/sites/{self.site}/assets", self.token,
                         {"fileName": file_name, "fileHash": file_hash})


class Peer:
    """`bench/peers/webflow_assets.py` under uvicorn with 2 workers (uvloop, httptools)."""

    def __init__(self, children, work, name="peer"):
        self.children, self.name = children, name
        self.dir = work / name
        self.site = self.token = self.base = None

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        db = self.dir / "peer.sqlite3"
        init = subprocess.run([str(PEER_PYTHON), str(PEER_DIR / "webflow_assets.py"), "init", str(db)],
                              check=True, capture_output=True, text=True).stdout
        self.site = re.search(r"created site (\w+)", init).group(1)
        self.token = re.search(r"created API token .*: (\w+)", init).group(1)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PEER_DB=str(db), PEER_PUBLIC_URL=self.base,
                   PEER_S3_ENDPOINT="http://127.0.0.1:9", PEER_BUCKET=BUCKET, PEER_REGION=REGION,
                   PEER_S3_ACCESS_KEY_ID=S3_ACCESS_KEY, PEER_S3_SECRET_ACCESS_KEY=S3_SECRET_KEY)
        log = self.dir / "uvicorn.log"
        self.child = self.children.start(self.name, [
            str(PEER_PYTHON), "-m", "uvicorn", "--app-dir", str(PEER_DIR), "webflow_assets:app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "info",
        ], log, env=env)
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count("Application startup complete") < 2:
            if not self.child.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the peer did not start:\n{self.child.log_tail()}")
            time.sleep(0.05)
        return self

    def stop(self):
        self.children.stop(self.child)

    @property
    def pid(self):
        return self.child.pid

    def create(self, file_name, file_hash):
        return http_json("POST", f"{self.base}/v2/sites/{self.site}/assets", self.token,
                         {"fileName": file_name, "fileHash": file_hash})


class SeaweedFS:
    """`weed mini` (one process: master, volume, filer, S3), the recipe of
    shared/spec/s3-post-notes.md §4.3 with every port picked free and its sockets kept here."""

    def __init__(self, children, work):
        self.children = children
        self.dir = work / "seaweedfs"
        self.s3_port = None

    def start(self):
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [
            {"name": "bench",
             "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
             "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
            {"name": "anonymous", "actions": [f"Read:{BUCKET}"]}]}))
        ports = {name: free_port() for name in (
            "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc",
            "s3", "s3_grpc", "admin", "admin_grpc")}
        self.s3_port = ports["s3"]
        self.grpc_socket = pathlib.Path(f"/tmp/seaweedfs-s3-grpc-{ports['s3_grpc']}.sock")
        self.child = self.children.start("seaweedfs", [
            str(WEED), "mini", f"-dir={data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
            f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
            f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-webdav=false", "-admin.ui=false",
            f"-admin.port={ports['admin']}", f"-admin.port.grpc={ports['admin_grpc']}",
            "-master.telemetry=false",
            f"-s3.localSocket={self.dir / 's3.sock'}",
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            f"-s3.config={config}",
        ], self.dir / "weed.log")
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if not self.child.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS did not start:\n{self.child.log_tail()}")
            time.sleep(0.1)
        self.s3 = self.client()
        for attempt in range(100):
            try:
                self.s3.create_bucket(Bucket=BUCKET)
                break
            except self.s3.exceptions.BucketAlreadyOwnedByYou:
                break
            except Exception:
                if attempt == 99:
                    raise
                time.sleep(0.2)
        return self

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def pid(self):
        return self.child.pid

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
                            config=Config(signature_version="s3v4",
                                          s3={"addressing_style": "path"},
                                          retries={"max_attempts": 10}))

    def presign(self, key, content_type, max_bytes):
        """A presigned POST with the conditions assetd pins; returns (url, fields)."""
        fields = {"acl": "public-read", "Content-Type": content_type,
                  "Cache-Control": "max-age=31536000, must-revalidate",
                  "success_action_status": "201"}
        post = self.s3.generate_presigned_post(
            Bucket=BUCKET, Key=key, Fields=fields,
            Conditions=[{k: v} for k, v in fields.items()] + [["content-length-range", 1, max_bytes]],
            ExpiresIn=3600)
        return post["url"], post["fields"]

    def stop(self):
        self.children.stop(self.child)
        self.grpc_socket.unlink(missing_ok=True)


class Nginx:
    """Debian's nginx serving a directory with sendfile, as a foreground child."""

    def __init__(self, children, work, root):
        self.children = children
        self.dir = work / "nginx"
        self.root = root

    def start(self):
        for sub in ("logs", "tmp"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = self.dir / "nginx.conf"
        # As Debian ships it (worker_processes auto, sendfile on, keep-alive), with what a
        # benchmark of static files wants: no access log, no keep-alive request cap.
        conf.write_text(f"""
user root;
worker_processes auto;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    access_log off;
    client_body_temp_path {self.dir}/tmp/client;
    proxy_temp_path {self.dir}/tmp/proxy;
    fastcgi_temp_path {self.dir}/tmp/fastcgi;
    uwsgi_temp_path {self.dir}/tmp/uwsgi;
    scgi_temp_path {self.dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
    }}
}}
""")
        self.child = self.children.start("nginx", [
            "nginx", "-p", str(self.dir), "-e", str(self.dir / "logs/error.log"),
            "-c", str(conf), "-g", "daemon off;"], self.dir / "logs/stderr.log")
        wait_for_port(self.port, self.child)
        return self

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.child.pid

    def stop(self):
        self.children.stop(self.child)


class PostgresDb:
    """A fresh database for one run, dropped afterwards."""

    def __init__(self):
        self.name = f"assetd_bench_{os.getpid()}_{secrets.token_hex(3)}"
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"

    def _psql(self, sql):
        subprocess.run(["psql", POSTGRES_ADMIN_URL, "-qtAc", sql], check=True,
                       capture_output=True, text=True)

    def create(self):
        self._psql(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self):
        self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def autovacuums(self):
        """Autovacuum and autoanalyze runs so far on this database's tables, or None. The
        create run's table grows by ~20,000 rows a second, past autovacuum's insert threshold,
        so a run over it may fall inside the timed run; the count says whether one did."""
        done = subprocess.run(
            ["psql", self.url, "-qtAc", "SELECT coalesce(sum(autovacuum_count + "
             "autoanalyze_count), 0) FROM pg_stat_user_tables"], capture_output=True, text=True)
        text = done.stdout.strip()
        return int(text) if done.returncode == 0 and text.isdigit() else None

    @staticmethod
    def checkpoint():
        """Asks the server for a checkpoint now (`CHECKPOINT`); True if it ran. The PostgreSQL
        server is shared: whatever else wrote to it (the test suite, earlier runs) decides when
        its next checkpoint starts, so without this a checkpoint lands inside a create run or
        not by chance. After it, a run meets one only if its own WAL calls for one."""
        done = subprocess.run(["psql", POSTGRES_ADMIN_URL, "-qtAc", "CHECKPOINT"],
                              capture_output=True, text=True)
        return done.returncode == 0

    @staticmethod
    def checkpoints():
        """Checkpoints the server has started so far (timed and requested), or None if it will
        not say. A checkpoint during a create run makes every page's first change after it
        write a full-page image to the WAL, which is the server's doing, not assetd's: the
        create row's details say how many ran."""
        # PostgreSQL 17 moved the counters from pg_stat_bgwriter to pg_stat_checkpointer.
        for sql in ("SELECT num_timed + num_requested FROM pg_stat_checkpointer",
                    "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"):
            done = subprocess.run(["psql", POSTGRES_ADMIN_URL, "-qtAc", sql],
                                  capture_output=True, text=True)
            if done.returncode == 0 and done.stdout.strip().isdigit():
                return int(done.stdout.strip())
        return None
