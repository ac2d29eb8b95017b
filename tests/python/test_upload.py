"""Step 2 of the upload as a Python user does it: `requests` posting uploadDetails exactly as
returned, then fetching hostedUrl and assetUrl."""
import hashlib
import re
import xml.etree.ElementTree as ET

import requests

from conftest import embedded

BYTES = bytes(range(256)) * 40


def create(server, name, data):
    response = requests.post(
        f"{server.api}/sites/{server.site_id}/assets",
        headers={"Authorization": f"Bearer {server.token}"},
        json={"fileName": name, "fileHash": hashlib.md5(data).hexdigest()},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_requests_posts_upload_details_as_returned(server):
    created = create(server, "photo.webp", BYTES)
    response = requests.post(
        created["uploadUrl"],
        data=created["uploadDetails"],
        files={"file": ("photo.webp", BYTES, created["contentType"])},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    root = ET.fromstring(response.content)
    assert root.tag == "PostResponse"
    assert root.findtext("Key") == created["uploadDetails"]["key"]
    assert root.findtext("Bucket") == created["uploadDetails"]["bucket"]
    assert root.findtext("ETag") == f'"{hashlib.md5(BYTES).hexdigest()}"'
    urls = [created["hostedUrl"], created["assetUrl"]]
    if embedded():
        # SeaweedFS answers with an empty Location; assetd's endpoint gives the object URL.
        assert re.match(r"^http://", root.findtext("Location"))
        urls.append(root.findtext("Location"))

    for url in urls:
        got = requests.get(url, timeout=10)
        assert got.status_code == 200
        assert got.content == BYTES
        assert got.headers["Content-Type"] == "image/webp"


def test_a_mismatching_file_is_refused_and_never_served(server):
    created = create(server, "doc.txt", b"promised bytes")
    response = requests.post(
        created["uploadUrl"],
        data=created["uploadDetails"],
        files={"file": ("doc.txt", b"other bytes", "text/plain")},
        timeout=10,
    )
    if embedded():
        assert response.status_code == 400
        assert ET.fromstring(response.content).findtext("Code") == "BadDigest"
    else:
        # An S3 service stores whatever the policy allows; assetd then sees the ETag differ,
        # deletes the object and marks the asset failed.
        assert response.status_code == 201
    assert requests.get(created["hostedUrl"], timeout=10).status_code == 404
    headers = {"Authorization": f"Bearer {server.token}"}
    assert requests.get(f"{server.api}/assets/{created['id']}", headers=headers, timeout=10).status_code == 404
    if not embedded():
        assert requests.get(created["assetUrl"], timeout=10).status_code in (403, 404)
