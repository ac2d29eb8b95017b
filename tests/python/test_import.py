"""`assetd import` between two real assetd servers, checked with the official Python SDK.

The source has 262 assets of several types (PNG, SVG, PDF, TXT, CSV) in nested folders, some
renamed and with alt texts, and one PNG wide enough for a 500 px variant. It is restarted with a
rate limit of 2 requests a second so the importer meets 429s. The import is killed midway and
run again; a third run must change nothing. The destination is then read with the SDK: the
same folder tree, ids, names and alt texts, byte-identical files at the destination's own
`hostedUrl`, a complete map, and `--rewrite` output with destination URLs only.
"""
import concurrent.futures
import csv
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest
import requests
from webflow import Webflow
from webflow.environment import WebflowEnvironment

from conftest import ADMIN_URL, ROOT, Server, start_server

BINARY = os.environ.get("ASSETD_BIN", str(ROOT / "target/debug/assetd"))
UNLIMITED = ["--rate-limit-per-minute", "1000000"]
# Two requests a second for the source's token: the import's few list calls meet 429s.
THROTTLED = ["--rate-limit-per-minute", "2", "--rate-limit-window-secs", "1"]
ASSETS = 262


def sdk(server, token=None):
    env = WebflowEnvironment(base=server.api, data_api=server.api, content_delivery_api=server.api)
    return Webflow(access_token=token or server.token, environment=env)


def png(width, height):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes((x * 7 + y * 3) % 256 for x in range(width * 3)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def database_args(server):
    if not server.database:
        return []
    return ["--database-url", ADMIN_URL.rsplit("/", 1)[0] + "/" + server.database]


def restart(server, *extra, listen="127.0.0.1:0", kill=False):
    """Stops `server` and starts it again on the same data (and database) with `extra` flags."""
    if kill:
        server.proc.kill()
    else:
        server.proc.terminate()
    server.proc.wait(timeout=20)
    proc = subprocess.Popen(
        [BINARY, "--data-dir", str(server.data_dir), *database_args(server), "serve", "--listen", listen, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={k: v for k, v in os.environ.items() if k != "ASSETD_DATABASE_URL"},
    )
    base = None
    for line in proc.stdout:
        if line.startswith("assetd: listening on "):
            base = line.split()[3]
            break
    assert base, "assetd did not restart"
    return Server(proc, server.data_dir, server.site_id, server.token, base, server.database)


def token(server, scope):
    out = subprocess.run(
        [BINARY, "--data-dir", str(server.data_dir), *database_args(server), "token", "create",
         "--site", server.site_id, "--scope", scope],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def upload(client, server, name, data, folder=None):
    created = client.assets.create(site_id=server.site_id, file_name=name,
                                   file_hash=hashlib.md5(data).hexdigest(), parent_folder=folder)
    details = created.upload_details.dict(by_alias=True)
    response = requests.post(created.upload_url, data=details,
                             files={"file": (name, data, created.content_type)}, timeout=30)
    assert response.status_code == 201, response.text
    return created.id


def list_all(client, site_id):
    assets, offset = [], 0
    for _ in range(100):
        page = client.assets.list(site_id=site_id, offset=offset, limit=100)
        assets += page.assets
        offset += len(page.assets)
        if not page.assets or offset >= page.pagination.total:
            break
    return assets


def wait_listed(client, site_id, count):
    """Waits (bounded, 30 s) until the site lists `count` assets: an assetd on S3 storage lists
    an upload once its background confirmer has seen the bytes, and an import copies what the
    source lists."""
    deadline = time.monotonic() + 30
    while len(list_all(client, site_id)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list_all(client, site_id)) == count


def seed(server):
    """The source site: a folder tree, 262 assets, names, alt texts; returns what it holds."""
    client = sdk(server)
    brand = client.assets.create_folder(site_id=server.site_id, display_name="Brand").id
    logos = client.assets.create_folder(site_id=server.site_id, display_name="Logos", parent_folder=brand).id
    dark = client.assets.create_folder(site_id=server.site_id, display_name="Dark", parent_folder=logos).id
    docs = client.assets.create_folder(site_id=server.site_id, display_name="Docs").id
    empty = client.assets.create_folder(site_id=server.site_id, display_name="Empty", parent_folder=docs).id
    folders = [None, brand, logos, dark, docs]
    kinds = [
        ("png", lambda i: png(2 + i % 5, 2)),
        ("svg", lambda i: f'<svg xmlns="http://www.w3.org/2000/svg" width="{i}" height="1"/>'.encode()),
        ("pdf", lambda i: b"%PDF-1.4\n" + os.urandom(200 + i)),
        ("txt", lambda i: f"note {i}\n".encode() * (i % 7 + 1)),
        ("csv", lambda i: f"a,b\n{i},{i * 2}\n".encode()),
    ]
    files = [(f"file-{i:03d}.{kinds[i % 5][0]}", kinds[i % 5][1](i), folders[i % 5]) for i in range(ASSETS - 2)]
    # Bigger than what the importer holds in memory (256 KiB): it goes through a temp file.
    files.append(("big.pdf", b"%PDF-1.4\n" + os.urandom(700_000), docs))
    files.append(("wide.png", png(640, 8), dark))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda f: upload(client, server, *f), files))
    data = {asset_id: payload for asset_id, (_, payload, _) in zip(ids, files)}
    # Every 7th renamed, every 5th with alt text (the SDK cannot send altText: plain PATCH).
    headers = {"Authorization": f"Bearer {server.token}"}
    for n, asset_id in enumerate(ids):
        body = {}
        if n % 7 == 0:
            body["displayName"] = f"Renamed “{n}”"
        if n % 5 == 0:
            body["altText"] = f"Alt text {n} <&>"
        if body:
            r = requests.patch(f"{server.api}/assets/{asset_id}", json=body, headers=headers, timeout=10)
            assert r.status_code == 200, r.text
    # The wide PNG's 500 px variant, made in the background: wait for it (bounded).
    for _ in range(100):
        if client.assets.get(ids[-1]).variants:
            break
        time.sleep(0.1)
    assert client.assets.get(ids[-1]).variants, "the source made no variant"
    wait_listed(client, server.site_id, ASSETS)
    return {"data": data, "folders": {brand, logos, dark, docs, empty}}


@pytest.fixture(scope="module")
def pair():
    with tempfile.TemporaryDirectory() as src_dir, tempfile.TemporaryDirectory() as dst_dir, \
            tempfile.TemporaryDirectory() as work:
        source = start_server(src_dir, *UNLIMITED)
        destination = start_server(dst_dir, *UNLIMITED)
        try:
            seeded = seed(source)
            source = restart(source, *THROTTLED)
            yield source, destination, seeded, work
        finally:
            source.stop()
            destination.stop()


def import_command(source, destination, to_token, work, *extra):
    return [BINARY, "import",
            "--from-api", source.api, "--from-token", source.token, "--from-site", source.site_id,
            "--to-api", destination.api, "--to-token", to_token, "--to-site", destination.site_id,
            "--state", os.path.join(work, "import.state"), "-j", "4", "--variant-wait-secs", "20", *extra]


def summary_of(stdout):
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    summaries = [line["summary"] for line in lines if line["event"] == "summary"]
    assert len(summaries) == 1, stdout[-2000:]
    return summaries[0], lines


def test_import_killed_resumed_repeated_then_checked_with_the_sdk(pair):
    source, destination, seeded, work = pair
    to_token = token(destination, "assets:read,assets:write,assets:import")
    map_json, map_csv = os.path.join(work, "map.json"), os.path.join(work, "map.csv")

    # A dry run changes nothing.
    dry = subprocess.run(import_command(source, destination, to_token, work, "--dry-run", "--json"),
                         capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    dry_summary, _ = summary_of(dry.stdout)
    assert dry_summary["dryRun"] and dry_summary["imported"] == ASSETS and dry_summary["foldersCreated"] == 5
    assert list_all(sdk(destination), destination.site_id) == []

    # Killed once 60 assets are in.
    run = subprocess.Popen(import_command(source, destination, to_token, work, "--json"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    imported, throttled_first = 0, False
    deadline = time.monotonic() + 120
    for line in run.stdout:
        event = json.loads(line)
        imported += event.get("action") == "imported"
        if imported >= 60 or time.monotonic() > deadline:
            break
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=20)
    assert 60 <= imported < ASSETS

    # Resumed: the rest, nothing twice.
    resumed = subprocess.run(import_command(source, destination, to_token, work, "--json", "--map", map_json),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    first, _ = summary_of(resumed.stdout)
    assert first["failed"] == 0, first["failures"]
    assert first["imported"] + first["skipped"] + first["updated"] == ASSETS
    assert first["skipped"] + first["updated"] >= 60
    assert first["ids"] == "kept"
    assert first["sourceThrottled"] > 0, "the throttled source never answered 429"

    # Again: nothing to do, and it says so.
    again = subprocess.run(import_command(source, destination, to_token, work, "--map", map_csv),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"nothing to do: all {ASSETS} assets and 5 folders are already on the destination" in again.stdout
    assert "imported 0 assets" in again.stdout
    assert not os.path.exists(os.path.join(work, "import.state.parts")), "temp files left behind"

    # The destination, read with the official SDK.
    src_client, dst_client = sdk(source), sdk(destination)
    src_folders = {f.id: f for f in src_client.assets.list_folders(site_id=source.site_id).asset_folders}
    dst_folders = {f.id: f for f in dst_client.assets.list_folders(site_id=destination.site_id).asset_folders}
    assert set(dst_folders) == set(src_folders) == seeded["folders"]
    for folder_id, folder in src_folders.items():
        assert dst_folders[folder_id].display_name == folder.display_name
        assert dst_folders[folder_id].parent_folder == folder.parent_folder
        # SDK 2.0.0 has no `folderId` on assets: each folder's `assets` says what is in it.
        assert sorted(dst_folders[folder_id].assets or []) == sorted(folder.assets or [])
    src_assets = {a.id: a for a in list_all(src_client, source.site_id)}
    dst_assets = {a.id: a for a in list_all(dst_client, destination.site_id)}
    assert len(dst_assets) == ASSETS and set(dst_assets) == set(src_assets)
    for asset_id, src in src_assets.items():
        dst = dst_assets[asset_id]
        assert (dst.display_name, dst.alt_text, dst.original_file_name, dst.size) == \
            (src.display_name, src.alt_text, src.original_file_name, src.size)
        assert dst.hosted_url.startswith(destination.base) and dst.hosted_url != src.hosted_url
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = dict(zip(dst_assets, pool.map(lambda a: requests.get(str(a.hosted_url), timeout=30).content,
                                            dst_assets.values())))
    assert got == seeded["data"]

    # The map, both formats: every asset, and the variant both sides made.
    with open(map_json) as f:
        mapped = json.load(f)
    by_source = {a["sourceId"]: a for a in mapped["assets"]}
    assert len(by_source) == ASSETS and len(mapped["folders"]) == 5
    for asset_id, entry in by_source.items():
        assert entry["destinationId"] == asset_id
        assert entry["sourceHostedUrl"] == str(src_assets[asset_id].hosted_url)
        assert entry["destinationHostedUrl"] == str(dst_assets[asset_id].hosted_url)
    wide = next(a for a in src_assets.values() if a.original_file_name == "wide.png")
    assert [(v["width"], v["sourceHostedUrl"], v["destinationHostedUrl"]) for v in by_source[wide.id]["variants"]] == \
        [(500, str(wide.variants[0].hosted_url), str(dst_assets[wide.id].variants[0].hosted_url))]
    with open(map_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sum(r["kind"] == "asset" for r in rows) == ASSETS
    assert sum(r["kind"] == "variant" for r in rows) == 1
    assert sum(r["kind"] == "folder" for r in rows) == 5

    # --rewrite: source URLs in exported files become destination URLs; originals untouched.
    some = list(src_assets.values())[:3]
    html = "".join(f'<img src="{a.hosted_url}" alt="x">\n' for a in some) + \
        f'<img srcset="{wide.variants[0].hosted_url} 500w">\n<a href="https://elsewhere.example/x.png">x</a>\n'
    exported = {
        "page.html": html,
        "items.csv": "Name,Image\n" + "".join(f'"{a.display_name}",{a.hosted_url}\n' for a in some),
        "items.json": json.dumps({"items": [{"image": {"url": str(a.hosted_url)}} for a in some]}).replace("/", "\\/"),
    }
    for name, text in exported.items():
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    rewrite = subprocess.run([BINARY, "import", "--map", map_csv, "--rewrite",
                              *(os.path.join(work, n) for n in exported)],
                             capture_output=True, text=True, timeout=60)
    assert rewrite.returncode == 0, rewrite.stderr
    for name, text in exported.items():
        with open(os.path.join(work, name)) as f:
            assert f.read() == text, "the original changed"
        stem, ext = name.rsplit(".", 1)
        with open(os.path.join(work, f"{stem}.rewritten.{ext}")) as f:
            out = f.read()
        assert source.base.split("//")[1] not in out, out
        assert "https://elsewhere.example/x.png" in out or name != "page.html"
    with open(os.path.join(work, "page.rewritten.html")) as f:
        page = f.read()
    for a in some:
        assert str(dst_assets[a.id].hosted_url) in page
    assert str(dst_assets[wide.id].variants[0].hosted_url) in page


def test_a_token_without_assets_import_gets_new_ids_and_a_map(pair):
    source, destination, _, work = pair
    site = subprocess.run([BINARY, "--data-dir", str(destination.data_dir), *database_args(destination),
                           "site", "create", "--name", "mapped"], check=True, capture_output=True, text=True)
    site_id = site.stdout.strip()
    plain = subprocess.run([BINARY, "--data-dir", str(destination.data_dir), *database_args(destination),
                            "token", "create", "--site", site_id], check=True, capture_output=True, text=True)
    plain = plain.stdout.strip()
    mapped_dst = Server(destination.proc, destination.data_dir, site_id, plain, destination.base)
    state_dir = os.path.join(work, "mapped")
    os.makedirs(state_dir, exist_ok=True)
    map_path = os.path.join(state_dir, "map.json")
    done = subprocess.run(import_command(source, mapped_dst, plain, state_dir, "--json", "--map", map_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary, lines = summary_of(done.stdout)
    assert summary["ids"] == "mapped" and summary["imported"] == ASSETS and summary["failed"] == 0
    assert any(line["event"] == "note" and "assets:import" in line["message"] for line in lines)
    with open(map_path) as f:
        pairs = {a["sourceId"]: a["destinationId"] for a in json.load(f)["assets"]}
    dst_assets = {a.id: a for a in list_all(sdk(mapped_dst), site_id)}
    src_assets = {a.id: a for a in list_all(sdk(source), source.site_id)}
    assert len(pairs) == ASSETS and set(pairs.values()) == set(dst_assets)
    for src_id, dst_id in pairs.items():
        assert src_id != dst_id
        src, dst = src_assets[src_id], dst_assets[dst_id]
        assert dst.alt_text == src.alt_text
        # A default name follows the new id; a chosen one is copied.
        want = f"{dst_id}_{src.original_file_name}" if src.display_name == f"{src_id}_{src.original_file_name}" \
            else src.display_name
        assert dst.display_name == want


def test_flags_from_the_environment_keep_ids_refusal_and_tokens_never_printed(pair):
    source, destination, _, work = pair
    site = subprocess.run([BINARY, "--data-dir", str(destination.data_dir), *database_args(destination),
                           "site", "create", "--name", "kept-or-nothing"], check=True, capture_output=True, text=True)
    site_id = site.stdout.strip()
    plain = subprocess.run([BINARY, "--data-dir", str(destination.data_dir), *database_args(destination),
                            "token", "create", "--site", site_id], check=True, capture_output=True, text=True)
    plain = plain.stdout.strip()
    state = os.path.join(work, "env.state")
    env = {**os.environ, "ASSETD_FROM_API": source.api, "ASSETD_FROM_TOKEN": source.token,
           "ASSETD_FROM_SITE": source.site_id, "ASSETD_TO_API": destination.api, "ASSETD_TO_TOKEN": plain,
           "ASSETD_TO_SITE": site_id, "ASSETD_IMPORT_STATE": state}
    dry = subprocess.run([BINARY, "import", "--dry-run"], env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert f"would import {ASSETS} assets" not in dry.stdout and f"import {ASSETS} assets" in dry.stdout
    # --ids keep with a token that may not choose ids: refused, saying why; nothing printed
    # anywhere carries a token.
    keep = subprocess.run([BINARY, "import", "--ids", "keep"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert keep.returncode == 1
    assert "assets:import" in keep.stderr
    for secret in (source.token, plain):
        assert secret not in keep.stdout + keep.stderr + dry.stdout + dry.stderr
        with open(state) as f:
            assert secret not in f.read()
    assert list_all(sdk(Server(None, None, site_id, plain, destination.base)), site_id) == []
    # The state file belongs to that pair of sites: another destination is refused.
    other = subprocess.run([BINARY, "import", "--to-site", destination.site_id], env=env,
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 1 and "belongs to another import" in other.stderr


def test_a_destination_that_goes_down_midway_is_waited_for():
    """The destination is killed while the import runs and is back a moment later on the same
    address: the calls and uploads that met the outage are retried, and nothing fails."""
    with tempfile.TemporaryDirectory() as src_dir, tempfile.TemporaryDirectory() as dst_dir, \
            tempfile.TemporaryDirectory() as work:
        source = start_server(src_dir, *UNLIMITED)
        destination = start_server(dst_dir, *UNLIMITED)
        try:
            client = sdk(source)
            files = [(f"doc-{i:03d}.pdf", os.urandom(20_000 + i)) for i in range(120)]
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda f: upload(client, source, *f), files))
            wait_listed(client, source.site_id, len(files))
            to_token = token(destination, "assets:read,assets:write,assets:import")
            run = subprocess.Popen(import_command(source, destination, to_token, work, "--json"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            imported = 0
            for line in run.stdout:
                imported += json.loads(line).get("action") == "imported"
                if imported >= 20:
                    break
            address = destination.base.split("//")[1]
            destination = restart(destination, *UNLIMITED, listen=address, kill=True)
            out, err = run.communicate(timeout=300)
            assert run.returncode == 0, err[-2000:]
            summary, _ = summary_of(out)
            # An asset whose steps met the outage is retried from its create; if its first create
            # and upload had landed, the retry finds it there (409, then adopted) and counts it
            # as updated or skipped, not imported: all of them are accounted for, none failed.
            assert summary["failed"] == 0, summary
            assert summary["imported"] + summary["updated"] + summary["skipped"] == len(files), summary
            assert summary["retried"] > 0, "no call met the outage"
            assert len(list_all(sdk(destination, to_token), destination.site_id)) == len(files)
        finally:
            source.stop()
            destination.stop()
