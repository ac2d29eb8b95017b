// assetd's asset webhooks through the official JS SDK (webflow-api 3.3.4): created, listed, read
// and deleted with `client.webhooks.*`, and every delivery verified by the receiver with the
// SDK's own `client.webhooks.verifySignature({ headers, body, secret })`, as a receiver written
// for Webflow does. Any "Failed to validate" warning of the SDK fails the suite.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { Webflow, WebflowClient } from "webflow-api";
import { startServer } from "./server.mjs";

const warnings = [];
const originalWarn = console.warn;
let server;
let receiver;
const deliveries = [];

before(async () => {
  console.warn = (...args) => {
    warnings.push(args.join(" "));
    originalWarn(...args);
  };
  // Loopback receivers are internal addresses: opened for the test.
  server = await startServer(["--webhook-allow", "127.0.0.0/8", "--webhook-retry-base-ms", "100"]);
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200).end();
    });
  });
  await new Promise((done) => receiver.listen(0, "127.0.0.1", done));
});

after(async () => {
  console.warn = originalWarn;
  receiver.close();
  assert.equal(await server.stop(), 0);
  assert.deepEqual(warnings.filter((w) => w.includes("Failed to validate")), []);
});

const bytesOf = (text) => {
  const buffer = Buffer.from(text);
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
};

async function waitFor(count) {
  const deadline = Date.now() + 20000;
  while (new Set(deliveries.map((d) => d.headers["x-assetd-event-id"])).size < count) {
    assert.ok(Date.now() < deadline, `${deliveries.length} of ${count} deliveries arrived`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return deliveries.slice();
}

test("the SDK manages asset webhooks and verifies every delivery", async () => {
  const client = new WebflowClient({ accessToken: server.token, baseUrl: server.api });
  const url = `http://127.0.0.1:${receiver.address().port}/hook`;
  const secrets = {};
  for (const triggerType of ["asset_created", "asset_changed", "asset_deleted", "asset_folder_changed"]) {
    // assetd's trigger types are not in the SDK's `TriggerType` enum; the SDK sends them anyway.
    const created = await client.webhooks.create(server.siteId, { triggerType, url });
    assert.match(created.id, /^[0-9a-f]{24}$/);
    assert.equal(created.triggerType, triggerType);
    assert.equal(created.siteId, server.siteId);
    assert.ok(created.createdOn instanceof Date, "createdOn parses as a Date");
    assert.match(created.secret, /^[0-9a-f]{64}$/, "the secret passes through the SDK");
    secrets[triggerType] = created.secret;
    secrets[created.id] = triggerType;
  }
  const listed = await client.webhooks.list(server.siteId);
  assert.equal(listed.webhooks.length, 4);
  assert.equal(listed.pagination.total, 4);
  const one = await client.webhooks.get(listed.webhooks[0].id);
  assert.equal(one.url, url);
  assert.equal(one.secret, undefined, "the secret is shown once");

  const folder = await client.assets.createFolder(server.siteId, { displayName: "hooked" });
  const asset = await client.assets.utilities.createAndUpload(server.siteId, {
    file: bytesOf("webhook bytes"),
    fileName: "hooked.txt",
  });
  await client.assets.update(asset.id, { displayName: "renamed.txt" });
  await client.assets.delete(asset.id);

  const all = await waitFor(4);
  const triggers = all.map((d) => JSON.parse(d.body).triggerType).sort();
  assert.deepEqual(triggers, ["asset_changed", "asset_created", "asset_deleted", "asset_folder_changed"]);
  for (const { headers, body } of all) {
    const { triggerType, payload } = JSON.parse(body);
    const secret = secrets[triggerType];
    assert.equal(await client.webhooks.verifySignature({ headers, body, secret }), true, body);
    // A changed body, or another webhook's secret, does not verify.
    assert.equal(await client.webhooks.verifySignature({ headers, body: body.replace("}", ' }'), secret }), false);
    const other = secrets[triggerType === "asset_created" ? "asset_deleted" : "asset_created"];
    assert.equal(await client.webhooks.verifySignature({ headers, body, secret: other }), false);
    assert.ok(Math.abs(Date.now() - Number(headers["x-webflow-timestamp"])) < 5 * 60 * 1000);
    assert.equal(payload.id, triggerType === "asset_folder_changed" ? folder.id : asset.id);
  }

  for (const hook of listed.webhooks) await client.webhooks.delete(hook.id);
  await assert.rejects(client.webhooks.get(listed.webhooks[0].id), (err) => err instanceof Webflow.NotFoundError);
  assert.equal((await client.webhooks.list(server.siteId)).webhooks.length, 0);
});
