// The official JS SDK's one-call upload helper against assetd.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import { WebflowClient } from "webflow-api";
import { startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

test("createAndUpload stores the bytes, served at hostedUrl and assetUrl", async () => {
  const client = new WebflowClient({ accessToken: server.token, baseUrl: server.api });
  const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const created = await client.assets.utilities.createAndUpload(server.siteId, {
    file,
    fileName: "from-js.png",
  });
  assert.equal(created.contentType, "image/png");
  assert.match(created.id, /^[0-9a-f]{24}$/);
  for (const url of [created.hostedUrl, created.assetUrl]) {
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "image/png");
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
    assert.equal(response.headers.get("etag"), `"${createHash("md5").update(bytes).digest("hex")}"`);
  }
});

test("the SDK's typed errors come back for 401 and 404", async () => {
  const client = new WebflowClient({ accessToken: server.token, baseUrl: server.api, maxRetries: 0 });
  await assert.rejects(
    client.assets.create("0123456789abcdef01234567", { fileName: "a.png", fileHash: "0".repeat(32) }),
    (err) => err.statusCode === 404 && err.body.code === "resource_not_found",
  );
  const stranger = new WebflowClient({ accessToken: "f".repeat(64), baseUrl: server.api, maxRetries: 0 });
  await assert.rejects(
    stranger.assets.create(server.siteId, { fileName: "a.png", fileHash: "0".repeat(32) }),
    (err) => err.statusCode === 401 && err.body.code === "not_authorized",
  );
});
