"""Starts the real assetd binary on a fresh data directory for the Python tests.

The binary is `$ASSETD_BIN` or target/debug/assetd (built by scripts/test). It listens on
127.0.0.1:0 and prints the site, the token and its address, which the fixture reads. Its
configuration comes from the environment as `assetd serve` reads it (`ASSETD_STORAGE=s3` and the
`ASSETD_S3_*` variables select an S3 service); with `ASSETD_TEST_POSTGRES=1` every server gets a
fresh PostgreSQL database on `ASSETD_TEST_DATABASE_URL`'s server.

With `ASSETD_TEST_DATA_DIR` set, the session's server runs on that existing data directory
instead (a restored backup: see restored_backup.py), whose site and token are
`ASSETD_TEST_SITE_ID` and `ASSETD_TEST_TOKEN`.
"""
import json
import os
import pathlib
import re
import secrets
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


ADMIN_URL = os.environ.get("ASSETD_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def embedded():
    return os.environ.get("ASSETD_STORAGE", "embedded") == "embedded"


def fresh_database():
    name = "assetd_py_" + secrets.token_hex(6)
    subprocess.run(["psql", ADMIN_URL, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return name, ADMIN_URL.rsplit("/", 1)[0] + "/" + name


class Server:
    def __init__(self, proc, data_dir, site_id, token, base, database=None):
        self.database = database
        self.proc = proc
        self.data_dir = data_dir
        self.site_id = site_id
        self.token = token
        self.base = base

    @property
    def api(self):
        return f"{self.base}/v2"

    def credentials(self):
        """The access key and secret upload policies are signed with."""
        if not embedded():
            return {"access_key_id": os.environ["ASSETD_S3_ACCESS_KEY_ID"],
                    "secret_access_key": os.environ["ASSETD_S3_SECRET_ACCESS_KEY"]}
        return json.loads((self.data_dir / "s3-credentials.json").read_text())

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=20)
        if self.database:
            subprocess.run(["psql", ADMIN_URL, "-q", "-c", f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)"],
                           check=False)
        return code


def start_server(data_dir, *extra, known=None):
    """Starts `serve` on `data_dir`; `known` is the (site, token) of a data directory that has
    them already (a fresh one prints its own)."""
    binary = os.environ.get("ASSETD_BIN", str(ROOT / "target/debug/assetd"))
    env = {k: v for k, v in os.environ.items() if k != "ASSETD_DATABASE_URL"}
    database = None
    db_args = []
    if os.environ.get("ASSETD_TEST_POSTGRES") == "1":
        database, url = fresh_database()
        db_args = ["--database-url", url]
    proc = subprocess.Popen(
        [binary, "--data-dir", str(data_dir), *db_args, "serve", "--listen", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    site_id, token = known or (None, None)
    base = None
    for line in proc.stdout:
        if m := re.match(r"assetd: created site ([0-9a-f]{24})$", line.strip()):
            site_id = m.group(1)
        elif m := re.match(r"assetd: created API token .*: ([0-9a-f]{64})$", line.strip()):
            token = m.group(1)
        elif m := re.match(r"assetd: listening on (http://\S+)", line.strip()):
            base = m.group(1)
            break
    assert base and site_id and token, "assetd did not print its site, token and address"
    return Server(proc, pathlib.Path(data_dir), site_id, token, base, database)


@pytest.fixture(scope="session")
def server():
    existing = os.environ.get("ASSETD_TEST_DATA_DIR")
    if existing:
        srv = start_server(existing, known=(os.environ["ASSETD_TEST_SITE_ID"], os.environ["ASSETD_TEST_TOKEN"]))
        yield srv
        assert srv.stop() == 0
        return
    with tempfile.TemporaryDirectory() as data_dir:
        srv = start_server(data_dir)
        yield srv
        assert srv.stop() == 0
