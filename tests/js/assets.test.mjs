// Every Assets method of the official JS SDK (webflow-api 3.3.4) against assetd, with the SDK's
// schema validation watched: any "Failed to validate" warning fails the suite.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Webflow, WebflowClient } from "webflow-api";
import zlib from "node:zlib";
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

  // With S3 storage an upload shows in lists once assetd's confirmer has seen it in the
  // background (a list never asks the S3 service itself): poll, at most 5 s, until it has.
  const deadline = Date.now() + 5000;
  let listed;
  let ids;
  for (;;) {
    listed = await client.assets.list(server.siteId, { offset: 0, limit: 100 });
    ids = listed.assets.map((a) => a.id);
    if ((ids.includes(uploaded.id) && ids.includes(other.id)) || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
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

// A real RGB PNG of width × height (zlib from Node's standard library).
const png = (width, height) => {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (kind, data) => {
    const body = Buffer.concat([Buffer.from(kind, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width * 3; x++) raw[y * (width * 3 + 1) + 1 + x] = (x * 7 + y * 3) % 256;
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const file = Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
  return file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength);
};

test("assets with variants parse without validation warnings", async () => {
  const client = new WebflowClient({ accessToken: server.token, baseUrl: server.api });
  const uploaded = await client.assets.utilities.createAndUpload(server.siteId, { file: png(900, 600), fileName: "js-wide.png" });
  const deadline = Date.now() + 60_000;
  let got = await client.assets.get(uploaded.id);
  while (got.variants.length < 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    got = await client.assets.get(uploaded.id);
  }
  assert.deepEqual(got.variants.map((v) => [v.width, v.height, v.format, v.quality]), [[500, 333], [800, 533]].map(([w, h]) => [w, h, "png", 100]));
  for (const variant of got.variants) {
    assert.equal(variant.originalFileName, `js-wide-p-${variant.width}.png`);
    const served = await fetch(variant.hostedUrl);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get("content-type"), "image/png");
  }
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
