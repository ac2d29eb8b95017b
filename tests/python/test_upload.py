"""Step 2 of the upload as a Python user does it: `requests` posting uploadDetails exactly as
returned, then fetching hostedUrl and assetUrl."""
import hashlib
import re
import xml.etree.ElementTree as ET

import requests

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
    assert re.match(r"^http://", root.findtext("Location"))

    for url in (created["hostedUrl"], created["assetUrl"], root.findtext("Location")):
        got = requests.get(url, timeout=10)
        assert got.status_code == 200
        assert got.content == BYTES
        assert got.headers["Content-Type"] == "image/webp"


def test_a_mismatching_file_is_refused_with_s3_xml(server):
    created = create(server, "doc.txt", b"promised bytes")
    response = requests.post(
        created["uploadUrl"],
        data=created["uploadDetails"],
        files={"file": ("doc.txt", b"other bytes", "text/plain")},
        timeout=10,
    )
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("Code") == "BadDigest"
    assert requests.get(created["hostedUrl"], timeout=10).status_code == 404
