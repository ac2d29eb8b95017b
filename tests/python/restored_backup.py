"""The official SDK suite on a restored backup (issue 29, item 3), embedded configuration.

1. A server on a fresh data directory takes uploads through the official SDK from four threads
   while `assetd backup` runs beside it.
2. The server stops; `assetd restore` puts the backup into a new data directory.
3. A server on the restored copy serves every upload acknowledged before the backup began,
   byte for byte (and nothing half-written: every asset it lists is served whole).
4. The whole Python suite (`pytest tests/python`) runs against that restored server.

Run by scripts/test; exits non-zero on any failure. Every loop is bounded.
"""
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import ROOT, start_server  # noqa: E402
from test_assets_sdk import png, sdk, upload  # noqa: E402

THREADS, PER_THREAD = 4, 10  # 40 assets: the suite's first list page (100) holds them all


def binary():
    return os.environ.get("ASSETD_BIN", str(ROOT / "target/debug/assetd"))


def run(*args):
    done = subprocess.run([binary(), *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        sys.exit(f"assetd {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


def main():
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        live, backup, restored = work / "live", work / "backup", work / "restored"
        server = start_server(live)
        client = sdk(server)
        acknowledged = {}  # asset id -> (bytes, time the upload was acknowledged)
        lock = threading.Lock()
        errors = []

        def uploader(n):
            try:
                for i in range(PER_THREAD):
                    data = png(8 + n, 8 + i)
                    created = upload(client, server, f"backup-{n}-{i}.png", data)
                    with lock:
                        acknowledged[created.id] = (data, time.monotonic())
            except Exception as err:  # noqa: BLE001 - reported below, fails the run
                errors.append(err)

        threads = [threading.Thread(target=uploader, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < THREADS * PER_THREAD // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        began = time.monotonic()
        run("--data-dir", str(live), "backup", "--out", str(backup))
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert server.stop() == 0
        before = {i: data for i, (data, at) in acknowledged.items() if at < began}
        assert before, "no upload was acknowledged before the backup began"

        run("restore", "--from", str(backup), "--data-dir", str(restored))
        site, token = server.site_id, server.token
        copy = start_server(restored, known=(site, token))
        try:
            copy_client = sdk(copy)
            for asset_id, data in before.items():
                got = copy_client.assets.get(asset_id)
                body = requests.get(got.hosted_url, timeout=10).content
                assert hashlib.md5(body).hexdigest() == hashlib.md5(data).hexdigest(), asset_id
            listed = copy_client.assets.list(site, offset=0, limit=100)
            for asset in listed.assets:
                body = requests.get(asset.hosted_url, timeout=10).content
                assert len(body) == asset.size, asset.id
            print(f"restored copy: {len(before)} uploads acknowledged before the backup began "
                  f"are there; {len(listed.assets)} of {len(acknowledged)} uploads in all")
        finally:
            assert copy.stop() == 0

        env = dict(os.environ, ASSETD_TEST_DATA_DIR=str(restored), ASSETD_TEST_SITE_ID=site,
                   ASSETD_TEST_TOKEN=token)
        # The import tests start servers of their own: nothing of the restored copy in them.
        suite = subprocess.run([sys.executable, "-m", "pytest", "-q", str(ROOT / "tests/python"),
                                "--ignore", str(ROOT / "tests/python/test_import.py")],
                               env=env, timeout=900)
        sys.exit(suite.returncode)


if __name__ == "__main__":
    main()
