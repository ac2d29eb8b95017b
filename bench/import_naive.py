"""The straightforward migration script a user would write with the official Python SDK and
`requests`, one asset at a time: list the source a page at a time, download each file, hash it,
create it on the destination, post the form, copy its name and alt text. `bench/run --only
import` times `assetd import` against it.

    import_naive.py SRC_API SRC_TOKEN SRC_SITE DST_API DST_TOKEN DST_SITE
"""
import hashlib
import sys

import requests
from webflow import Webflow
from webflow.environment import WebflowEnvironment


def client(api, token):
    env = WebflowEnvironment(base=api, data_api=api, content_delivery_api=api)
    return Webflow(access_token=token, environment=env)


def main(src_api, src_token, src_site, dst_api, dst_token, dst_site):
    src, dst = client(src_api, src_token), client(dst_api, dst_token)
    http = requests.Session()
    copied, offset = 0, 0
    while True:
        page = src.assets.list(site_id=src_site, offset=offset, limit=100)
        for asset in page.assets:
            data = http.get(str(asset.hosted_url), timeout=60).content
            created = dst.assets.create(site_id=dst_site, file_name=asset.original_file_name,
                                        file_hash=hashlib.md5(data).hexdigest())
            details = created.upload_details.dict(by_alias=True)
            posted = http.post(created.upload_url, data=details,
                               files={"file": (asset.original_file_name, data, created.content_type)},
                               timeout=60)
            posted.raise_for_status()
            if asset.display_name != f"{asset.id}_{asset.original_file_name}" or asset.alt_text:
                http.patch(f"{dst_api}/assets/{created.id}", timeout=60,
                           headers={"Authorization": f"Bearer {dst_token}"},
                           json={"displayName": asset.display_name, "altText": asset.alt_text})
            copied += 1
        offset += len(page.assets)
        if not page.assets or offset >= page.pagination.total:
            break
    print(copied)


if __name__ == "__main__":
    main(*sys.argv[1:7])
