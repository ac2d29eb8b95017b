"""Every Assets method of the official Python SDK (webflow 2.0.0) against assetd."""
import hashlib
import struct
import tempfile
import time
import zlib

import pytest
import requests
from webflow import Webflow
from webflow.environment import WebflowEnvironment
from webflow.errors import BadRequestError, NotFoundError, TooManyRequestsError, UnauthorizedError

from conftest import start_server

NO_RETRY = {"max_retries": 0}


def sdk(server, token=None):
    env = WebflowEnvironment(base=server.api, data_api=server.api, content_delivery_api=server.api)
    return Webflow(access_token=token or server.token, environment=env)


def png(width, height):
    """A real RGB PNG (variants are only made from images that decode)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = lambda y: b"\x00" + bytes((x * 7 + y * 3) % 256 for x in range(width * 3))
    raw = b"".join(row(y) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def upload(client, server, name, data, folder=None):
    created = client.assets.create(
        site_id=server.site_id, file_name=name, file_hash=hashlib.md5(data).hexdigest(), parent_folder=folder
    )
    details = created.upload_details.dict(by_alias=True)
    response = requests.post(created.upload_url, data=details, files={"file": (name, data, created.content_type)}, timeout=10)
    assert response.status_code == 201, response.text
    return created


def test_every_assets_method(server):
    client = sdk(server)
    folder = client.assets.create_folder(site_id=server.site_id, display_name="sdk-folder")
    assert len(folder.id) == 24 and folder.display_name == "sdk-folder" and folder.parent_folder is None
    child = client.assets.create_folder(site_id=server.site_id, display_name="child", parent_folder=folder.id)
    assert child.parent_folder == folder.id

    # 1×1: narrower than every variant width, so it has none.
    one_pixel = png(1, 1)
    first = upload(client, server, "sdk-one.png", one_pixel, folder.id)
    second = upload(client, server, "sdk-two.pdf", b"second file")

    got = client.assets.get(first.id)
    assert got.id == first.id
    assert got.content_type == "image/png"
    assert got.size == len(one_pixel)
    assert got.site_id == server.site_id
    assert got.original_file_name == "sdk-one.png"
    assert got.display_name == f"{first.id}_sdk-one.png"
    assert got.variants == []
    assert got.alt_text is None
    assert got.created_on is not None and got.last_updated is not None
    assert requests.get(got.hosted_url, timeout=10).content == one_pixel

    # With S3 storage an upload shows in lists once assetd's confirmer has seen it in the
    # background (a list never asks the S3 service itself): poll, at most 5 s, until it has.
    deadline = time.monotonic() + 5
    while True:
        listed = client.assets.list(server.site_id, offset=0, limit=100)
        ids = [a.id for a in listed.assets]
        if (first.id in ids and second.id in ids) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert first.id in ids and second.id in ids
    assert listed.pagination.limit == 100 and listed.pagination.offset == 0
    assert listed.pagination.total == len(ids)
    one = client.assets.list(server.site_id, offset=0, limit=1)
    assert len(one.assets) == 1 and one.pagination.total == listed.pagination.total

    updated = client.assets.update(first.id, display_name="Renamed by SDK", locale_id="65427cf400e02b306eaa04a0")
    assert updated.display_name == "Renamed by SDK"
    assert client.assets.get(first.id).display_name == "Renamed by SDK"

    folders = client.assets.list_folders(server.site_id)
    by_id = {f.id: f for f in folders.asset_folders}
    assert by_id[folder.id].assets == [first.id]
    assert by_id[child.id].parent_folder == folder.id
    assert folders.pagination.total == len(folders.asset_folders)
    fetched = client.assets.get_folder(folder.id)
    assert fetched.display_name == "sdk-folder" and fetched.assets == [first.id]

    assert client.assets.delete(second.id) is None
    with pytest.raises(NotFoundError):
        client.assets.get(second.id)
    assert requests.get(second.hosted_url, timeout=10).status_code == 404


def test_sdk_error_classes(server):
    client = sdk(server)
    with pytest.raises(BadRequestError) as bad:
        client.assets.list(server.site_id, limit=101)
    assert bad.value.body["code"] == "validation_error"
    with pytest.raises(BadRequestError):
        client.assets.create_folder(site_id=server.site_id, display_name="")
    with pytest.raises(UnauthorizedError):
        sdk(server, token="1" * 64).assets.list(server.site_id)
    with pytest.raises(NotFoundError):
        client.assets.get("0123456789abcdef01234567")
    with pytest.raises(NotFoundError):
        client.assets.get_folder("0123456789abcdef01234567")
    with pytest.raises(NotFoundError):
        client.assets.list_folders("0123456789abcdef01234567")
    with pytest.raises(NotFoundError):
        client.assets.delete("0123456789abcdef01234567")


def test_sites_get_parses_the_site(server):
    client = sdk(server)
    site = client.sites.get(server.site_id)
    assert site.id == server.site_id
    assert site.display_name and site.created_on is not None
    with pytest.raises(NotFoundError):
        client.sites.get("0123456789abcdef01234567")


def test_too_many_requests_error():
    with tempfile.TemporaryDirectory() as data_dir:
        limited = start_server(data_dir, "--rate-limit-per-minute", "2")
        try:
            client = sdk(limited)
            client.assets.list(limited.site_id)
            client.assets.list(limited.site_id)
            with pytest.raises(TooManyRequestsError) as err:
                client.assets.list(limited.site_id, request_options=NO_RETRY)
            assert err.value.status_code == 429
            assert err.value.body.code == "too_many_requests"
            assert 1 <= int(err.value.headers["retry-after"]) <= 60
        finally:
            limited.stop()


def test_assets_with_variants_parse(server):
    """A 1200×900 PNG gets 500, 800 and 1080 px variants, which the SDK parses as AssetVariant."""
    client = sdk(server)
    image = png(1200, 900)
    created = upload(client, server, "wide.png", image)
    deadline = time.monotonic() + 60
    while True:
        got = client.assets.get(created.id)
        # Variants are listed as each is made; wait for the last one.
        if len(got.variants) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(v.width, v.height) for v in got.variants] == [(500, 375), (800, 600), (1080, 810)]
    for variant in got.variants:
        assert variant.format == "png" and variant.quality == 100 and variant.error is None
        assert variant.original_file_name == f"wide-p-{variant.width}.png"
        assert variant.display_name == f"{created.id}_wide-p-{variant.width}.png"
        served = requests.get(variant.hosted_url, timeout=10)
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        assert served.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", served.content[16:24]) == (variant.width, variant.height)
    listed = client.assets.list(server.site_id, offset=0, limit=100)
    [item] = [a for a in listed.assets if a.id == created.id]
    assert [v.hosted_url for v in item.variants] == [v.hosted_url for v in got.variants]


def test_webp_variants_parse():
    """With --variant-formats original,webp, the WebP entries after the PNG ones parse as
    AssetVariant too (format "webp", an assetd extension) and are served as image/webp."""
    with tempfile.TemporaryDirectory() as data_dir:
        webp = start_server(data_dir, "--variant-formats", "original,webp")
        try:
            client = sdk(webp)
            created = upload(client, webp, "wide.png", png(1200, 900))
            deadline = time.monotonic() + 60
            while True:
                got = client.assets.get(created.id)
                if len(got.variants) == 6 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert [(v.format, v.width) for v in got.variants] == [
                ("png", 500), ("png", 800), ("png", 1080), ("webp", 500), ("webp", 800), ("webp", 1080)]
            for variant in got.variants[3:]:
                assert variant.quality == 90 and variant.error is None
                assert variant.original_file_name == f"wide-p-{variant.width}.webp"
                served = requests.get(variant.hosted_url, timeout=10)
                assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
                assert served.content[:4] == b"RIFF" and served.content[8:12] == b"WEBP"
        finally:
            webp.stop()
