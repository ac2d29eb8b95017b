#!/usr/bin/env python3
"""Regenerates crates/s3post/tests/data/botocore-presigned-post.json with botocore.

botocore is the independent implementation our presigned POST is checked against. The clock is
pinned by replacing botocore's `get_current_datetime` in the two modules that read it (the policy
expiration in botocore.signers, the x-amz-date in botocore.auth), so the output is reproducible.

Usage: scripts/gen-botocore-vectors.py [--check]
  --check  exit 1 if the committed file differs from what botocore produces now.
"""
import datetime
import json
import pathlib
import sys

import boto3
import botocore
import botocore.auth
import botocore.signers
from botocore.config import Config

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/s3post/tests/data/botocore-presigned-post.json"
NOW = datetime.datetime(2026, 11, 25, 10, 30, 0)
ACCESS_KEY = "AKIATESTLOCAL000001"
SECRET = "testsecretkeytestsecretkey0000000000001"

CASES = [
    {
        "name": "webflow-upload-details",
        "region": "us-east-1",
        "bucket": "assetd",
        "key": "6390c49674a71f84b51a08d8/64358b9544249dc43d37d2b7_file.png",
        "expires_in": 900,
        "fields": {
            "acl": "public-read",
            "success_action_status": "201",
            "Content-Type": "image/png",
            "Cache-Control": "max-age=31536000, must-revalidate",
        },
        "conditions": [
            {"acl": "public-read"},
            {"success_action_status": "201"},
            {"Content-Type": "image/png"},
            {"Cache-Control": "max-age=31536000, must-revalidate"},
            ["content-length-range", 1, 4000000],
        ],
    },
    {
        "name": "filename-placeholder-and-starts-with",
        "region": "eu-west-3",
        "bucket": "uploads",
        "key": "user/alice/${filename}",
        "expires_in": 3600,
        "fields": {"x-amz-meta-uuid": "14365123651274"},
        "conditions": [
            ["starts-with", "$Content-Type", "image/"],
            {"x-amz-meta-uuid": "14365123651274"},
            ["starts-with", "$x-amz-meta-tag", ""],
            ["content-length-range", 0, 10485760],
        ],
    },
    {
        "name": "no-extra-conditions",
        "region": "us-east-1",
        "bucket": "b",
        "key": "plain.txt",
        "expires_in": 60,
        "fields": {},
        "conditions": [],
    },
    {
        "name": "escaping-and-unicode",
        "region": "ap-southeast-2",
        "bucket": "assets.example-2",
        "key": "dir/na\u00efve \"quoted\" \\ name.pdf",
        "expires_in": 604800,
        "fields": {"Content-Disposition": "attachment; filename=\"r\u00e9sum\u00e9.pdf\""},
        "conditions": [
            {"Content-Disposition": "attachment; filename=\"r\u00e9sum\u00e9.pdf\""},
            ["eq", "$success_action_redirect", "https://example.com/ok?a=1&b=2"],
        ],
    },
]


def pinned_now(remove_tzinfo=True):
    return NOW if remove_tzinfo else NOW.replace(tzinfo=datetime.timezone.utc)


def generate():
    botocore.signers.get_current_datetime = pinned_now
    botocore.auth.get_current_datetime = pinned_now
    vectors = []
    for case in CASES:
        client = boto3.client(
            "s3",
            region_name=case["region"],
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET,
            endpoint_url="http://127.0.0.1:9000",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        post = client.generate_presigned_post(
            Bucket=case["bucket"],
            Key=case["key"],
            Fields=dict(case["fields"]),
            Conditions=[c if isinstance(c, dict) else list(c) for c in case["conditions"]],
            ExpiresIn=case["expires_in"],
        )
        vectors.append(
            {
                "input": {**case, "now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")},
                "output": post,
            }
        )
    return {
        "generator": f"botocore {botocore.__version__} generate_presigned_post (scripts/gen-botocore-vectors.py)",
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET,
        "vectors": vectors,
    }


def main():
    text = json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            print(f"{OUT} differs from botocore's output; rerun without --check", file=sys.stderr)
            return 1
        print(f"{OUT.name} matches botocore {botocore.__version__}")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
