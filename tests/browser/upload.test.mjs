// The upload page (/ui/) in a real Chromium against the real assetd binary: connect with the
// token, choose site and folder, check the page's MD5 against RFC 1321, upload a PNG through the
// file input, rename it, move it, give it alt text, copy its URL, see an image's variants,
// manage folders (new, rename, move, delete, recursively), then delete it, checking every step
// through the API as well.
//
// The steps share one server and one page and run in order; a failed step makes the later ones
// fail too, which is clearer here than rebuilding the state in each test.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { startServer } from "../js/server.mjs";
import { encodePng } from "./png.mjs";

const root = resolve(import.meta.dirname, "../..");
// Served from disk, so the test checks the files as they are now, not as last compiled in.
const webDir = resolve(root, "crates/assetd/web");
const screenshotPath = resolve(root, "target/artifacts/upload-page.png");
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

// A 64×48 gradient: real image bytes whose decoded width the thumbnail must report.
const png = encodePng(64, 48, (x, y) => [x * 4, y * 5, (x + y) % 256]);

let server;
let browser;
let page;
const requestUrls = [];
const pageProblems = [];
let folderId; // made through the API before the page opens
let assetId; // filled in by the upload step and used by the later ones

async function apiGet(path) {
  return fetch(`${server.api}${path}`, { headers: { Authorization: `Bearer ${server.token}` } });
}

async function apiJson(method, path, body) {
  const response = await fetch(`${server.api}${path}`, {
    method,
    headers: { Authorization: `Bearer ${server.token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path} → ${response.status}`);
  return response.json();
}

const row = (id) => page.locator(`[data-testid="asset-item"][data-asset-id="${id}"]`);
const upload = (name) => page.locator(`[data-testid="upload-item"][data-file-name="${name}"]`);

before(async () => {
  server = await startServer(["--web-dir", webDir]);
  ({ id: folderId } = await apiJson("POST", `/sites/${server.siteId}/asset_folders`, { displayName: "Logos" }));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.setDefaultTimeout(15_000);
  page.on("request", (request) => requestUrls.push(request.url()));
  page.on("pageerror", (err) => pageProblems.push(`uncaught: ${err.message}`));
  page.on("console", (message) => {
    // A CSP violation means the page relies on something its own policy forbids.
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      pageProblems.push(`csp: ${message.text()}`);
    }
  });
});

after(async () => {
  // Each step runs even if an earlier one threw, so nothing is left running.
  try {
    await browser?.close();
  } finally {
    if (server) assert.equal(await server.stop(), 0);
  }
});

test("a wrong token is refused in words, the right one connects and lists the site", async () => {
  await page.goto(`${server.base}/ui/`);
  await page.fill("#token-input", "f".repeat(64));
  await page.click("#connect-button");
  await page.locator("#connect-error", { hasText: "This token is not valid" }).waitFor();

  await page.fill("#token-input", server.token);
  await page.click("#connect-button");
  await page.locator(`#site-select option[value="${server.siteId}"]`).waitFor({ state: "attached" });
  await page.selectOption("#site-select", server.siteId);
  assert.equal(await page.locator("#connect-error").isHidden(), true);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("assetd.token")), server.token);
});

test("the page's MD5 matches RFC 1321 and node's crypto", async () => {
  const megabyte = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => i % 256));
  const got = await page.evaluate(async () => {
    const { Md5, md5OfBlob } = await import(new URL("md5.js", location.href).href);
    const text = (s) => new Md5().update(new TextEncoder().encode(s)).hex();
    const bytes = Uint8Array.from({ length: 1 << 20 }, (_, i) => i % 256);
    // Uneven pieces, so block boundaries fall inside updates.
    const pieces = new Md5();
    for (let i = 0; i < bytes.length; i += 1000) pieces.update(bytes.subarray(i, i + 1000));
    return {
      empty: text(""),
      abc: text("abc"),
      messageDigest: text("message digest"),
      megabyte: new Md5().update(bytes).hex(),
      megabyteInPieces: pieces.hex(),
      megabyteBlob: await md5OfBlob(new Blob([bytes]), { chunkBytes: 100_000 }),
    };
  });
  const expected = createHash("md5").update(megabyte).digest("hex");
  assert.deepEqual(got, {
    empty: "d41d8cd98f00b204e9800998ecf8427e",
    abc: "900150983cd24fb0d6963f7d28e17f72",
    messageDigest: "f96b697d7cb7938d525a2f31aaf161d0",
    megabyte: expected,
    megabyteInPieces: expected,
    megabyteBlob: expected,
  });
});

test("a PNG chosen in the file input is uploaded into the chosen folder and listed with its thumbnail", async () => {
  await page.locator(`#folder-select option[value="${folderId}"]`).waitFor({ state: "attached" });
  await page.selectOption("#folder-select", folderId);

  await page.locator("#file-input:not([disabled])").waitFor({ state: "attached" });
  await page.setInputFiles("#file-input", { name: "pixel.png", mimeType: "image/png", buffer: png });
  await upload("pixel.png").and(page.locator('[data-state="done"]')).waitFor();
  assert.equal(await upload("pixel.png").locator("progress").evaluate((p) => p.value), 1);

  const item = page.locator('[data-testid="asset-item"]', { hasText: "pixel.png" });
  await item.waitFor();
  assetId = await item.getAttribute("data-asset-id");
  assert.match(assetId, /^[0-9a-f]{24}$/);

  const thumbnail = item.locator('[data-testid="thumbnail"]');
  await thumbnail.scrollIntoViewIfNeeded();
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumbnail.elementHandle());
  assert.equal(await thumbnail.evaluate((img) => img.naturalWidth), 64);
  assert.equal(await thumbnail.evaluate((img) => img.naturalHeight), 48);

  const asset = await (await apiGet(`/assets/${assetId}`)).json();
  assert.equal(asset.originalFileName, "pixel.png");
  assert.equal(asset.contentType, "image/png");
  assert.equal(asset.size, png.length);
  const served = await fetch(asset.hostedUrl);
  assert.equal(served.status, 200);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), png);

  const inFolder = await (await apiGet(`/sites/${server.siteId}/assets?folderId=${folderId}`)).json();
  assert.deepEqual(inFolder.assets.map((a) => a.id), [assetId]);
});

test("a disallowed file type is refused with the validation error in words", async () => {
  await page.setInputFiles("#file-input", { name: "notes.exe", mimeType: "application/octet-stream", buffer: Buffer.from("MZ") });
  const failed = upload("notes.exe").and(page.locator('[data-state="error"]'));
  await failed.waitFor();
  const text = await failed.locator('[data-testid="upload-status"]').innerText();
  assert.match(text, /File name: File type is not supported/);
  assert.match(text, /allowed extensions: png/);
});

test("an error from the storage endpoint is shown in words and the unused asset is removed", async () => {
  // The real endpoint cannot be made to expire a policy on demand, so this one answer is
  // replaced with the XML S3 sends for it; Create Asset before it is real.
  await page.route("**/s3/**", (route) =>
    route.fulfill({
      status: 403,
      contentType: "application/xml",
      body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>',
    }),
  );
  try {
    const cleanup = page.waitForRequest((request) => request.method() === "DELETE" && request.url().includes("/v2/assets/"));
    await page.setInputFiles("#file-input", { name: "late.txt", mimeType: "text/plain", buffer: Buffer.from("too late") });
    const failed = upload("late.txt").and(page.locator('[data-state="error"]'));
    await failed.waitFor();
    assert.equal(
      await failed.locator('[data-testid="upload-status"]').innerText(),
      "The storage service refused the upload. Invalid according to Policy: Policy expired. (AccessDenied)",
    );
    const deleted = await (await cleanup).response();
    assert.equal(deleted.status(), 204);
  } finally {
    await page.unroute("**/s3/**");
  }
});

test("renaming in the list changes the asset's displayName", async () => {
  await row(assetId).locator('[data-testid="rename-button"]').click();
  await row(assetId).locator('[data-testid="rename-input"]').fill("Company logo.png");
  await row(assetId).locator('[data-testid="rename-save"]').click();
  await row(assetId).locator('[data-testid="asset-name"]', { hasText: "Company logo.png" }).waitFor();
  await row(assetId).locator('[data-testid="rename-form"]').waitFor({ state: "hidden" });

  const asset = await (await apiGet(`/assets/${assetId}`)).json();
  assert.equal(asset.displayName, "Company logo.png");

  mkdirSync(resolve(screenshotPath, ".."), { recursive: true });
  await page.screenshot({ path: screenshotPath, fullPage: true });
});

const folderOption = (id) => page.locator(`#folder-select option[value="${id}"]`);

async function folderById(id) {
  const response = await apiGet(`/asset_folders/${id}`);
  return response.status === 200 ? response.json() : null;
}

test("folders are created, renamed, moved and deleted from the page", async () => {
  await page.selectOption("#folder-select", folderId);
  await page.click("#folder-new-button");
  await page.fill("#folder-form-input", "Icons");
  await page.click("#folder-form-save");
  await page.locator("#folder-status", { hasText: "Created the folder “Icons”" }).waitFor();
  await page.locator("#folder-select option", { hasText: "Logos / Icons" }).waitFor({ state: "attached" });
  const icons = await page.inputValue("#folder-select");
  assert.match(icons, /^[0-9a-f]{24}$/);
  assert.equal((await folderById(icons)).parentFolder, folderId);

  await page.click("#folder-rename-button");
  await page.fill("#folder-form-input", "Small icons");
  await page.click("#folder-form-save");
  await page.locator("#folder-select option", { hasText: "Logos / Small icons" }).waitFor({ state: "attached" });
  assert.equal((await folderById(icons)).displayName, "Small icons");

  await page.click("#folder-move-button");
  // A folder cannot be moved into itself: it is not offered.
  assert.equal(await page.locator(`#folder-form-parent option[value="${icons}"]`).count(), 0);
  await page.selectOption("#folder-form-parent", "");
  await page.click("#folder-form-save");
  await page.locator("#folder-status", { hasText: "Moved the folder" }).waitFor();
  assert.equal((await folderById(icons)).parentFolder, null);
  await page.locator(`#folder-select option[value="${icons}"]`, { hasText: /^Small icons$/ }).waitFor({ state: "attached" });

  await page.click("#folder-delete-button");
  await page.click("#folder-delete-yes");
  await page.locator("#folder-status", { hasText: "Deleted the folder “Small icons”" }).waitFor();
  await folderOption(icons).waitFor({ state: "detached" });
  assert.equal(await folderById(icons), null);

  // A folder with a subfolder needs the second, explicit choice.
  const archive = await apiJson("POST", `/sites/${server.siteId}/asset_folders`, { displayName: "Archive" });
  const old = await apiJson("POST", `/sites/${server.siteId}/asset_folders`, { displayName: "Old", parentFolder: archive.id });
  await page.selectOption("#site-select", server.siteId);
  await folderOption(archive.id).waitFor({ state: "attached" });
  await page.selectOption("#folder-select", archive.id);
  await page.click("#folder-delete-button");
  await page.click("#folder-delete-yes");
  await page.locator("#folder-delete-question", { hasText: "has subfolders or assets" }).waitFor();
  assert.notEqual(await folderById(archive.id), null);
  await page.click("#folder-delete-all");
  await page.locator("#folder-status", { hasText: "and everything in it" }).waitFor();
  assert.equal(await folderById(archive.id), null);
  assert.equal(await folderById(old.id), null);
});

test("an asset is moved, given alt text and its URL copied from its row", async () => {
  await folderOption(folderId).waitFor({ state: "attached" });
  await page.selectOption("#folder-select", "");
  await row(assetId).waitFor();

  await row(assetId).locator('[data-testid="move-button"]').click();
  assert.equal(await row(assetId).locator('[data-testid="move-select"]').inputValue(), folderId);
  await row(assetId).locator('[data-testid="move-select"]').selectOption("");
  await row(assetId).locator('[data-testid="move-save"]').click();
  await page.locator("#assets-status", { hasText: "to the top level" }).waitFor();
  const inLogos = await (await apiGet(`/sites/${server.siteId}/assets?folderId=${folderId}`)).json();
  assert.equal(inLogos.pagination.total, 0);
  const all = await (await apiGet(`/sites/${server.siteId}/assets`)).json();
  assert.equal(all.assets.find((a) => a.id === assetId).folderId, null);

  await row(assetId).locator('[data-testid="alt-button"]').click();
  await row(assetId).locator('[data-testid="alt-input"]').fill("Our logo on white");
  await row(assetId).locator('[data-testid="alt-save"]').click();
  await row(assetId).locator('[data-testid="asset-alt"]', { hasText: "Alt text: Our logo on white" }).waitFor();
  assert.equal((await (await apiGet(`/assets/${assetId}`)).json()).altText, "Our logo on white");

  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
  await row(assetId).locator('[data-testid="copy-button"]').click();
  await page.locator("#assets-status", { hasText: "Copied the URL" }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, (await (await apiGet(`/assets/${assetId}`)).json()).hostedUrl);
});

test("an asset's file is replaced from its row, keeping its id, name and alt text", async () => {
  const before = await (await apiGet(`/assets/${assetId}`)).json();
  const bigger = encodePng(96, 72, (x, y) => [255 - x, y * 3, 40]);
  await row(assetId).locator('[data-testid="replace-input"]').setInputFiles({ name: "logo-2027.png", mimeType: "image/png", buffer: bigger });
  await page.locator("#assets-status", { hasText: "Replaced the file of" }).waitFor();

  const after = await (await apiGet(`/assets/${assetId}`)).json();
  assert.equal(after.id, assetId);
  assert.equal(after.displayName, before.displayName);
  assert.equal(after.altText, "Our logo on white");
  assert.equal(after.size, bigger.length);
  assert.equal(after.originalFileName, "logo-2027.png");
  assert.notEqual(after.hostedUrl, before.hostedUrl);
  // The row shows the new file: its link and thumbnail point at the new URL, which serves it.
  assert.equal(await row(assetId).locator('[data-testid="asset-name"]').getAttribute("href"), after.hostedUrl);
  await row(assetId).locator(`[data-testid="thumbnail"][src="${after.hostedUrl}"]`).waitFor();
  const served = await fetch(after.hostedUrl);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), bigger);
});

test("an image's responsive variants are listed in its row once made", async () => {
  const wide = encodePng(640, 360, (x, y) => [x % 256, y % 256, (x * y) % 256]);
  await page.setInputFiles("#file-input", { name: "wide.png", mimeType: "image/png", buffer: wide });
  await upload("wide.png").and(page.locator('[data-state="done"]')).waitFor();
  const item = page.locator('[data-testid="asset-item"]', { hasText: "wide.png" });
  await item.waitFor();
  const wideId = await item.getAttribute("data-asset-id");
  // The variant worker runs in the background: refresh until the row lists what it made
  // (bounded: 30 tries, half a second apart).
  const variants = row(wideId).locator('[data-testid="variants"]');
  for (let i = 0; i < 30 && !(await variants.isVisible()); i++) {
    await page.waitForTimeout(500);
    await page.click("#refresh-button");
  }
  const api = (await (await apiGet(`/assets/${wideId}`)).json()).variants;
  assert.ok(api.length > 0, "the server made no variant");
  await variants.locator("summary").click();
  const links = await variants.locator("a").evaluateAll((as) => as.map((a) => a.href));
  assert.deepEqual(links.sort(), api.map((v) => v.hostedUrl).sort());
  assert.equal((await fetch(links[0])).status, 200);
  const deleted = await fetch(`${server.api}/assets/${wideId}`, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${server.token}` },
  });
  assert.equal(deleted.status, 204);
  await page.click("#refresh-button");
  await row(wideId).waitFor({ state: "detached" });
});

test("deleting in the list (after confirming) removes the asset", async () => {
  await row(assetId).locator('[data-testid="delete-button"]').click();
  await row(assetId).locator('[data-testid="delete-yes"]').click();
  await row(assetId).waitFor({ state: "detached" });
  await page.locator("#assets-status", { hasText: "Deleted" }).waitFor();

  assert.equal((await apiGet(`/assets/${assetId}`)).status, 404);
  assert.equal(await page.locator('[data-testid="asset-item"]').count(), 0);
});

test("the token never appeared in a URL and the page broke none of its own rules", () => {
  assert.ok(requestUrls.length > 0);
  for (const url of requestUrls) assert.ok(!url.includes(server.token), `token in ${url}`);
  assert.ok(!page.url().includes(server.token));
  assert.deepEqual(pageProblems, []);
});
