"""Upload Asset (step 1) as the official Python SDK and a plain HTTP client see it."""
import base64
import hashlib
import hmac
import json
import os

import pytest
import requests
from webflow import Webflow
from webflow.environment import WebflowEnvironment
from webflow.errors import BadRequestError, NotFoundError, UnauthorizedError

from conftest import embedded

FILE = b"\x89PNG\r\n\x1a\n not really a png, but bytes all the same"
FILE_HASH = hashlib.md5(FILE).hexdigest()
DETAIL_KEYS = [
    "acl", "bucket", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "key",
    "Policy", "X-Amz-Signature", "success_action_status", "content-type", "Cache-Control",
]


def sdk(server, token=None):
    env = WebflowEnvironment(base=server.api, data_api=server.api, content_delivery_api=server.api)
    return Webflow(access_token=token or server.token, environment=env)


def test_official_sdk_create_parses_the_response(server):
    upload = sdk(server).assets.create(site_id=server.site_id, file_name="file.png", file_hash=FILE_HASH)
    assert len(upload.id) == 24
    assert upload.content_type == "image/png"
    assert upload.original_file_name == "file.png"
    expected_upload = server.base + "/s3/" if embedded() else os.environ["ASSETD_S3_ENDPOINT"] + "/"
    assert upload.upload_url.startswith(expected_upload)
    assert upload.hosted_url.startswith(server.base)
    assert upload.created_on is not None and upload.last_updated is not None
    details = upload.upload_details
    assert details.key == f"{server.site_id}/{upload.id}_file.png"
    assert details.success_action_status == "201"
    assert details.x_amz_algorithm == "AWS4-HMAC-SHA256"
    assert details.content_type == "image/png"
    assert details.policy and details.x_amz_signature and details.x_amz_credential and details.x_amz_date
    assert details.cache_control and details.acl == "public-read" and details.bucket


def test_sdk_raises_its_error_classes(server):
    client = sdk(server)
    with pytest.raises(BadRequestError) as bad:
        client.assets.create(site_id=server.site_id, file_name="file.png", file_hash="not-a-hash")
    assert bad.value.status_code == 400
    assert bad.value.body["code"] == "validation_error"
    assert bad.value.body["details"][0]["param"] == "fileHash"

    with pytest.raises(UnauthorizedError) as unauthorized:
        sdk(server, token="0" * 64).assets.create(site_id=server.site_id, file_name="file.png", file_hash=FILE_HASH)
    assert unauthorized.value.status_code == 401
    assert unauthorized.value.body.code == "not_authorized"

    with pytest.raises(NotFoundError) as missing:
        client.assets.create(site_id="0123456789abcdef01234567", file_name="file.png", file_hash=FILE_HASH)
    assert missing.value.status_code == 404
    assert missing.value.body.code == "resource_not_found"


def test_signature_recomputed_independently_from_policy_and_store_secret(server):
    response = requests.post(
        f"{server.api}/sites/{server.site_id}/assets",
        headers={"Authorization": f"Bearer {server.token}"},
        json={"fileName": "report.pdf", "fileHash": FILE_HASH},
        timeout=10,
    )
    assert response.status_code == 200
    assert int(response.headers["X-RateLimit-Limit"]) > 0
    assert "X-RateLimit-Remaining" in response.headers
    body = response.json()
    details = body["uploadDetails"]
    assert list(details) == DETAIL_KEYS, "uploadDetails keys must come in the spec's order"
    assert all(isinstance(v, str) for v in details.values())

    creds = server.credentials()
    access_key, date, region, service, terminator = details["X-Amz-Credential"].split("/")
    assert access_key == creds["access_key_id"]
    assert (service, terminator) == ("s3", "aws4_request")
    assert details["X-Amz-Date"].startswith(date)

    def sign(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    k = sign(("AWS4" + creds["secret_access_key"]).encode(), date)
    k = sign(k, region)
    k = sign(k, service)
    k = sign(k, "aws4_request")
    expected = hmac.new(k, details["Policy"].encode(), hashlib.sha256).hexdigest()
    assert details["X-Amz-Signature"] == expected

    policy = json.loads(base64.b64decode(details["Policy"]))
    assert set(policy) == {"expiration", "conditions"}
    conditions = policy["conditions"]
    assert {"key": details["key"]} in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert {"x-amz-date": details["X-Amz-Date"]} in conditions
    assert ["content-length-range", 1, 10 * 1024 * 1024] in conditions
