"""Starts the real assetd binary on a fresh data directory for the Python tests.

The binary is `$ASSETD_BIN` or target/debug/assetd (built by scripts/test). It listens on
127.0.0.1:0 and prints the site, the token and its address, which the fixture reads.
"""
import json
import os
import pathlib
import re
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, proc, data_dir, site_id, token, base):
        self.proc = proc
        self.data_dir = data_dir
        self.site_id = site_id
        self.token = token
        self.base = base

    @property
    def api(self):
        return f"{self.base}/v2"

    def credentials(self):
        return json.loads((self.data_dir / "s3-credentials.json").read_text())


def start_server(data_dir, *extra):
    binary = os.environ.get("ASSETD_BIN", str(ROOT / "target/debug/assetd"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETD_")}
    proc = subprocess.Popen(
        [binary, "--data-dir", str(data_dir), "serve", "--listen", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    site_id = token = base = None
    for line in proc.stdout:
        if m := re.match(r"assetd: created site ([0-9a-f]{24})$", line.strip()):
            site_id = m.group(1)
        elif m := re.match(r"assetd: created API token .*: ([0-9a-f]{64})$", line.strip()):
            token = m.group(1)
        elif m := re.match(r"assetd: listening on (http://\S+)", line.strip()):
            base = m.group(1)
            break
    assert base and site_id and token, "assetd did not print its site, token and address"
    return Server(proc, pathlib.Path(data_dir), site_id, token, base)


@pytest.fixture(scope="session")
def server():
    with tempfile.TemporaryDirectory() as data_dir:
        srv = start_server(data_dir)
        yield srv
        srv.proc.terminate()
        assert srv.proc.wait(timeout=20) == 0
