// Every Assets method of the official JS SDK (webflow-api 3.3.4) against assetd, with the SDK's
// schema validation watched: any "Failed to validate" warning fails the suite.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Webflow, WebflowClient } from "webflow-api";
import { startServer } from "./server.mjs";

const warnings = [];
const originalWarn = console.warn;
let server;
let limited;

before(async () => {
  console.warn = (...args) => {
    warnings.push(args.join(" "));
    originalWarn(...args);
  };
  server = await startServer();
  limited = await startServer(["--rate-limit-per-minute", "1"]);
});

after(async () => {
  console.warn = originalWarn;
  assert.equal(await server.stop(), 0);
  assert.equal(await limited.stop(), 0);
  assert.deepEqual(warnings.filter((w) => w.includes("Failed to validate")), []);
});

const bytesOf = (text) => {
  const buffer = Buffer.from(text);
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
};

// A real 1×1 PNG: narrower than every variant width, so its `variants` stays empty.
const ONE_PIXEL_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYOcDAAAgABaBpfV8AAAAAElFTkSuQmCC",
  "base64",
);
const onePixelPng = () =>
  ONE_PIXEL_PNG.buffer.slice(ONE_PIXEL_PNG.byteOffset, ONE_PIXEL_PNG.byteOffset + ONE_PIXEL_PNG.byteLength);

test("every Assets method parses without validation warnings", async () => {
  const client = new WebflowClient({ accessToken: server.token, baseUrl: server.api });
  const folder = await client.assets.createFolder(server.siteId, { displayName: "js-folder" });
  assert.match(folder.id, /^[0-9a-f]{24}$/);
  assert.equal(folder.displayName, "js-folder");
  assert.ok(folder.createdOn instanceof Date, "createdOn parses as a Date");
  const child = await client.assets.createFolder(server.siteId, { displayName: "child", parentFolder: folder.id });
  assert.equal(child.parentFolder, folder.id);

  const uploaded = await client.assets.utilities.createAndUpload(server.siteId, {
    file: onePixelPng(),
    fileName: "js-one.png",
    parentFolder: folder.id,
  });
  const other = await client.assets.utilities.createAndUpload(server.siteId, { file: bytesOf("second"), fileName: "js-two.txt" });

  const got = await client.assets.get(uploaded.id);
  assert.equal(got.id, uploaded.id);
  assert.equal(got.size, ONE_PIXEL_PNG.length);
  assert.equal(got.contentType, "image/png");
  assert.equal(got.displayName, `${uploaded.id}_js-one.png`);
  assert.deepEqual(got.variants, []);
  assert.ok(got.lastUpdated instanceof Date);

  const listed = await client.assets.list(server.siteId, { offset: 0, limit: 100 });
  const ids = listed.assets.map((a) => a.id);
  assert.ok(ids.includes(uploaded.id) && ids.includes(other.id));
  assert.equal(listed.pagination.total, ids.length);
  const page = await client.assets.list(server.siteId, { offset: 1, limit: 1 });
  assert.equal(page.assets.length, 1);
  assert.equal(page.pagination.offset, 1);

  const updated = await client.assets.update(uploaded.id, { displayName: "Renamed by JS" });
  assert.equal(updated.displayName, "Renamed by JS");

  const folders = await client.assets.listFolders(server.siteId);
  const mine = folders.assetFolders.find((f) => f.id === folder.id);
  assert.deepEqual(mine.assets, [uploaded.id]);
  const fetched = await client.assets.getFolder(folder.id);
  assert.deepEqual(fetched.assets, [uploaded.id]);

  await client.assets.delete(other.id);
  await assert.rejects(client.assets.get(other.id), (err) => err instanceof Webflow.NotFoundError);
});

test("the SDK's error classes come back where they belong", async () => {
  const client = new WebflowClient({ accessToken: server.token, baseUrl: server.api, maxRetries: 0 });
  await assert.rejects(client.assets.list(server.siteId, { limit: 101 }), (err) => err instanceof Webflow.BadRequestError);
  await assert.rejects(client.assets.get("0123456789abcdef01234567"), (err) => err instanceof Webflow.NotFoundError);
  const stranger = new WebflowClient({ accessToken: "e".repeat(64), baseUrl: server.api, maxRetries: 0 });
  await assert.rejects(stranger.assets.list(server.siteId), (err) => err instanceof Webflow.UnauthorizedError);

  const throttled = new WebflowClient({ accessToken: limited.token, baseUrl: limited.api, maxRetries: 0 });
  await throttled.assets.list(limited.siteId);
  await assert.rejects(
    throttled.assets.list(limited.siteId),
    (err) => err instanceof Webflow.TooManyRequestsError && err.body.code === "too_many_requests",
  );
});
