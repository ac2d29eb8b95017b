"""assetd's asset webhooks through the official Python SDK (webflow 2.0.0): create, list, get and
delete, and a delivery whose signature a receiver checks as Webflow documents it (hex HMAC-SHA256
of `timestamp:body` with the secret), with Python's own hmac."""
import hashlib
import hmac
import http.server
import json
import tempfile
import threading
import time

from webflow import Webflow
from webflow.environment import WebflowEnvironment
from webflow.errors import NotFoundError

from conftest import start_server


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.deliveries = []
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.deliveries.append((dict(self.headers), body.decode()))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_sdk_manages_webhooks_and_deliveries_verify():
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(data_dir, "--webhook-allow", "127.0.0.0/8")
        try:
            env = WebflowEnvironment(base=server.api, data_api=server.api, content_delivery_api=server.api)
            client = Webflow(access_token=server.token, environment=env)
            url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
            # The site id is the SDK's first, positional argument (`site_id_`).
            created = client.webhooks.create(server.site_id, trigger_type="asset_folder_changed", url=url)
            assert created.trigger_type == "asset_folder_changed"
            assert created.site_id == server.site_id
            secret = created.secret  # an extra field, kept by the SDK's model
            assert len(secret) == 64
            listed = client.webhooks.list(site_id=server.site_id)
            assert [w.id for w in listed.webhooks] == [created.id]
            assert listed.pagination.total == 1
            got = client.webhooks.get(webhook_id=created.id)
            assert got.url == url and got.created_on == created.created_on
            assert getattr(got, "secret", None) is None

            folder = client.assets.create_folder(site_id=server.site_id, display_name="py-hooked")
            deadline = time.time() + 20
            while not receiver.deliveries:
                assert time.time() < deadline, "no delivery"
                time.sleep(0.05)
            headers, body = receiver.deliveries[0]
            headers = {k.lower(): v for k, v in headers.items()}
            expected = hmac.new(secret.encode(), f"{headers['x-webflow-timestamp']}:{body}".encode(),
                                hashlib.sha256).hexdigest()
            assert hmac.compare_digest(expected, headers["x-webflow-signature"])
            event = json.loads(body)
            assert event["triggerType"] == "asset_folder_changed"
            assert event["payload"]["id"] == folder.id
            assert event["payload"]["change"] == "created"

            client.webhooks.delete(webhook_id=created.id)
            try:
                client.webhooks.get(webhook_id=created.id)
                raise AssertionError("still there")
            except NotFoundError:
                pass
        finally:
            assert server.stop() == 0
            receiver.shutdown()
