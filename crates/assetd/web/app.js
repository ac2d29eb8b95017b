// The upload page: connect with a token, pick a site and folder, upload files (MD5 in the
// browser → Create Asset → POST the signed form to uploadUrl), and list, rename and delete assets.
//
// The page is an ordinary API client: everything it does goes through the public Webflow-style
// API with the pasted token, so it needs no privileges of its own. The token lives in this tab's
// sessionStorage only and travels only in the Authorization header, never in a URL.

import { md5OfBlob } from "./md5.js";

// ---------------------------------------------------------------------------------------------
// Settings and state

// Resolved against the page (served at <prefix>/ui/), so the page also works when assetd sits
// behind a reverse proxy under a path prefix.
const API_BASE = new URL("../v2/", document.baseURI);
const PAGE_SIZE = 100; // the API's maximum `limit`
const STORAGE = { token: "assetd.token", site: "assetd.site", folder: "assetd.folder" };

const state = {
  token: "",
  sites: [],
  siteId: "",
  folders: new Map(), // id → { id, displayName, parentFolder, path }
  folderId: "",
  assets: [], // newest first
  total: 0,
  oldestOffset: 0, // API offset of the oldest asset loaded (the API lists oldest first)
  listLoaded: false, // false until the first page arrives, so "No assets" does not flash
  listGeneration: 0, // bumps on every reload, so stale responses are dropped
  folderAction: null, // "new" | "rename" | "move" while the folder form is open
};

const $ = (id) => document.getElementById(id);
const ui = {
  tokenForm: $("token-form"),
  tokenInput: $("token-input"),
  connectButton: $("connect-button"),
  forgetButton: $("forget-button"),
  connectStatus: $("connect-status"),
  connectError: $("connect-error"),
  siteSelect: $("site-select"),
  folderSelect: $("folder-select"),
  foldersError: $("folders-error"),
  dropZone: $("drop-zone"),
  fileInput: $("file-input"),
  uploadList: $("upload-list"),
  clearUploadsButton: $("clear-uploads-button"),
  assetsHeading: $("assets-heading"),
  assetsCount: $("assets-count"),
  assetsStatus: $("assets-status"),
  assetsError: $("assets-error"),
  assetsEmpty: $("assets-empty"),
  assetList: $("asset-list"),
  refreshButton: $("refresh-button"),
  olderButton: $("older-button"),
  assetTemplate: $("asset-template"),
  folderTools: $("folder-tools"),
  folderNewButton: $("folder-new-button"),
  folderRenameButton: $("folder-rename-button"),
  folderMoveButton: $("folder-move-button"),
  folderDeleteButton: $("folder-delete-button"),
  folderForm: $("folder-form"),
  folderFormLabel: $("folder-form-label"),
  folderFormInput: $("folder-form-input"),
  folderFormParent: $("folder-form-parent"),
  folderFormCancel: $("folder-form-cancel"),
  folderDeleteConfirm: $("folder-delete-confirm"),
  folderDeleteQuestion: $("folder-delete-question"),
  folderDeleteYes: $("folder-delete-yes"),
  folderDeleteAll: $("folder-delete-all"),
  folderDeleteNo: $("folder-delete-no"),
  folderStatus: $("folder-status"),
  uploadTemplate: $("upload-template"),
};

// ---------------------------------------------------------------------------------------------
// Errors in words
//
// The API answers `{code, message, details}` and the storage endpoint answers S3 XML; neither is
// meant for a person, so each known case gets a sentence, and anything else falls back to the
// server's own message.

class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Names of request parameters as a person would say them.
const PARAM_WORDS = {
  fileName: "File name",
  fileHash: "File checksum",
  parentFolder: "Folder",
  folderId: "Folder",
  displayName: "Name",
  altText: "Alt text",
  site_id: "Site",
  asset_id: "Asset",
  offset: "Offset",
  limit: "Limit",
  body: "Request",
};

function describeApiError(status, body, retryAfter) {
  const code = typeof body?.code === "string" ? body.code : "";
  const message = typeof body?.message === "string" ? body.message : "";
  const details = Array.isArray(body?.details) ? body.details : [];
  if (status === 401 || code === "not_authorized") {
    return "This token is not valid. Check that you pasted all of it, or create a new one with “assetd token create”.";
  }
  if (status === 403 || code === "missing_scopes") {
    const scope = message.split(" - ")[1];
    return scope
      ? `This token is not allowed to do that: it lacks the “${scope}” permission.`
      : "This token is not allowed to do that.";
  }
  if (status === 404 || code === "resource_not_found") {
    return "Not found: it may have been deleted, or this token cannot see it.";
  }
  if (status === 409 || code === "conflict") {
    return `That clashes with something that already exists. ${message}`.trim();
  }
  if (status === 429 || code === "too_many_requests") {
    const seconds = Number.parseInt(retryAfter ?? "", 10);
    return Number.isFinite(seconds)
      ? `Too many requests with this token. Wait ${seconds} second${seconds === 1 ? "" : "s"} and try again.`
      : "Too many requests with this token. Wait a minute and try again.";
  }
  if (code === "validation_error" && details.length > 0) {
    const problems = details.map((d) => `${PARAM_WORDS[d.param] ?? d.param}: ${d.description}`);
    return `The server did not accept this. ${problems.join(" ")}`;
  }
  if (status === 413) return "The request is too large for the server.";
  if (status >= 500) {
    return `The server had a problem (HTTP ${status}). Try again later.${message ? ` It said: ${message}` : ""}`;
  }
  return message ? `${message} (HTTP ${status})` : `The server answered HTTP ${status}.`;
}

// S3 error codes the storage endpoint sends for a POST upload
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
const S3_WORDS = {
  EntityTooLarge: "The file is larger than this server accepts for this type of file.",
  EntityTooSmall: "The file is empty. Empty files cannot be uploaded.",
  BadDigest: "The file changed while it was being uploaded (its checksum no longer matches). Try again.",
  IncompleteBody: "The upload was cut off before the whole file arrived. Check the connection and try again.",
  AccessDenied: "The storage service refused the upload.",
  SignatureDoesNotMatch: "The storage service rejected the upload's signature. The server's storage settings may be wrong; tell whoever runs assetd.",
  InvalidAccessKeyId: "The storage service does not know the server's access key. The server's storage settings may be wrong; tell whoever runs assetd.",
  RequestTimeout: "The upload was too slow and the storage service gave up. Try again.",
  InternalError: "The storage service had a problem. Try again later.",
};

// Codes whose server message adds something a person can act on (e.g. "Policy expired.").
const S3_KEEP_MESSAGE = new Set(["AccessDenied"]);

function describeS3Error(status, xmlText) {
  let code = "";
  let message = "";
  try {
    const doc = new DOMParser().parseFromString(xmlText, "application/xml");
    code = doc.querySelector("Error > Code")?.textContent?.trim() ?? "";
    message = doc.querySelector("Error > Message")?.textContent?.trim() ?? "";
  } catch {
    // Not XML: fall through to the status.
  }
  const words = S3_WORDS[code];
  if (words) {
    const extra = S3_KEEP_MESSAGE.has(code) && message ? ` ${message}` : "";
    return `${words}${extra} (${code})`;
  }
  if (message) return `The storage service refused the upload: ${message}${code ? ` (${code})` : ""}`;
  return `The storage service answered HTTP ${status}.`;
}

function errorText(err) {
  if (err instanceof ApiError) return err.message;
  if (err?.name === "NotReadableError" || err?.name === "NotFoundError") {
    return "The browser could not read this file (folders cannot be uploaded; the file may have been moved).";
  }
  return err?.message || String(err);
}

function showError(box, text) {
  box.textContent = text;
  box.hidden = !text;
}

// ---------------------------------------------------------------------------------------------
// API client

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path, API_BASE), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError("Cannot reach the server. Check that assetd is running and try again.", 0, "");
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // A non-JSON body (a proxy's error page, say) is described by its status alone.
  }
  if (!response.ok) {
    throw new ApiError(describeApiError(response.status, json, response.headers.get("Retry-After")), response.status, json?.code ?? "");
  }
  return json;
}

const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== undefined)).toString();

// ---------------------------------------------------------------------------------------------
// Connecting: token, sites, folders

async function connect(token) {
  state.token = token;
  showError(ui.connectError, "");
  ui.connectStatus.textContent = "Connecting…";
  ui.connectButton.disabled = true;
  try {
    const { sites } = await api("GET", "sites");
    sessionStorage.setItem(STORAGE.token, token);
    state.sites = sites;
    ui.tokenInput.value = "";
    ui.tokenInput.placeholder = "Connected. Paste another token to switch.";
    ui.forgetButton.hidden = false;
    ui.connectStatus.textContent = sites.length === 0
      ? "Connected, but this token cannot see any site."
      : `Connected. This token can see ${sites.length} site${sites.length === 1 ? "" : "s"}.`;
    fillSites();
  } catch (err) {
    state.token = "";
    // A refused token is dropped; after a network failure a reload may still reconnect.
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) sessionStorage.removeItem(STORAGE.token);
    ui.connectStatus.textContent = "";
    showError(ui.connectError, `Could not connect. ${errorText(err)}`);
    resetSites();
  } finally {
    ui.connectButton.disabled = false;
  }
}

function forget() {
  sessionStorage.removeItem(STORAGE.token);
  state.token = "";
  ui.tokenInput.value = "";
  ui.tokenInput.placeholder = "Paste your API token";
  ui.forgetButton.hidden = true;
  ui.connectStatus.textContent = "Token forgotten.";
  showError(ui.connectError, "");
  resetSites();
  ui.tokenInput.focus();
}

function resetSites() {
  state.sites = [];
  ui.siteSelect.replaceChildren(new Option("Connect first", ""));
  ui.siteSelect.disabled = true;
  selectSite("");
}

function fillSites() {
  const options = state.sites.map((site) => new Option(`${site.displayName} (${site.id})`, site.id));
  const remembered = sessionStorage.getItem(STORAGE.site);
  let chosen = state.sites.some((s) => s.id === remembered) ? remembered : "";
  if (state.sites.length === 1) chosen = state.sites[0].id;
  if (state.sites.length !== 1) options.unshift(new Option("Choose a site…", ""));
  ui.siteSelect.replaceChildren(...options);
  ui.siteSelect.value = chosen;
  ui.siteSelect.disabled = state.sites.length === 0;
  selectSite(chosen);
}

function selectSite(siteId) {
  state.siteId = siteId;
  if (siteId) sessionStorage.setItem(STORAGE.site, siteId);
  state.folders = new Map();
  ui.folderSelect.replaceChildren(new Option("All / no folder", ""));
  ui.folderSelect.disabled = true;
  state.folderId = "";
  showError(ui.foldersError, "");
  closeFolderForms();
  updateFolderTools();
  setUploadEnabled(Boolean(siteId));
  ui.refreshButton.disabled = !siteId;
  clearAssets();
  if (!siteId) return;
  loadFolders(siteId).then(() => reloadAssets());
}

async function loadFolders(siteId) {
  try {
    const folders = [];
    for (let offset = 0; ; offset += PAGE_SIZE) {
      const page = await api("GET", `sites/${siteId}/asset_folders?${query({ offset, limit: PAGE_SIZE })}`);
      folders.push(...page.assetFolders);
      if (page.assetFolders.length === 0 || folders.length >= page.pagination.total) break;
    }
    if (state.siteId !== siteId) return;
    state.folders = new Map(folders.map((f) => [f.id, { ...f }]));
    for (const folder of state.folders.values()) folder.path = folderPath(folder.id);
    const sorted = [...state.folders.values()].sort((a, b) => a.path.localeCompare(b.path));
    ui.folderSelect.replaceChildren(
      new Option("All / no folder", ""),
      ...sorted.map((f) => new Option(f.path, f.id)),
    );
    const remembered = sessionStorage.getItem(STORAGE.folder);
    state.folderId = state.folders.has(remembered) ? remembered : "";
    ui.folderSelect.value = state.folderId;
    ui.folderSelect.disabled = false;
    updateFolderTools();
    showError(ui.foldersError, "");
  } catch (err) {
    showError(ui.foldersError, `Could not load the site's folders. ${errorText(err)}`);
  }
}

// "Parent / Child" for nested folders; the depth guard stops a cycle in bad data.
function folderPath(id) {
  const names = [];
  for (let folder = state.folders.get(id); folder && names.length < 32; folder = state.folders.get(folder.parentFolder)) {
    names.unshift(folder.displayName);
  }
  return names.join(" / ");
}

// ---------------------------------------------------------------------------------------------
// Managing folders (assetd's extensions: rename, move and delete are not in Webflow's API)
//
// One form serves "new", "rename" and "move"; the folder acted on is the one chosen above, and a
// new folder goes inside it. After any change the folder list is read again, so paths and the
// choices of the move menus follow.

function updateFolderTools() {
  ui.folderTools.hidden = !state.siteId;
  const chosen = Boolean(state.folderId);
  for (const button of [ui.folderRenameButton, ui.folderMoveButton, ui.folderDeleteButton]) button.disabled = !chosen;
}

// The folder and everything below it: a folder can never move into these.
function subtree(id) {
  const inside = new Set([id]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const folder of state.folders.values()) {
      if (!inside.has(folder.id) && inside.has(folder.parentFolder)) {
        inside.add(folder.id);
        grew = true;
      }
    }
  }
  return inside;
}

// `<option>`s of every folder a thing may go into, top level first, minus `excluded`.
function folderOptions(topLabel, excluded = new Set()) {
  const sorted = [...state.folders.values()].filter((f) => !excluded.has(f.id)).sort((a, b) => a.path.localeCompare(b.path));
  return [new Option(topLabel, ""), ...sorted.map((f) => new Option(f.path, f.id))];
}

function closeFolderForms() {
  state.folderAction = null;
  ui.folderForm.hidden = true;
  ui.folderDeleteConfirm.hidden = true;
  ui.folderTools.hidden = !state.siteId;
}

function openFolderForm(action) {
  const folder = state.folders.get(state.folderId);
  if (action !== "new" && !folder) return;
  showError(ui.foldersError, "");
  closeFolderForms();
  state.folderAction = action;
  ui.folderTools.hidden = true;
  ui.folderForm.hidden = false;
  const naming = action !== "move";
  ui.folderFormInput.hidden = !naming;
  ui.folderFormParent.hidden = naming;
  if (action === "new") {
    ui.folderFormLabel.textContent = folder ? `Name of the new folder in ${folder.path}` : "Name of the new folder";
    ui.folderFormInput.value = "";
  } else if (action === "rename") {
    ui.folderFormLabel.textContent = `New name for ${folder.path}`;
    ui.folderFormInput.value = folder.displayName;
  } else {
    ui.folderFormLabel.textContent = `Move ${folder.path} into`;
    ui.folderFormParent.replaceChildren(...folderOptions("The top level", subtree(folder.id)));
    ui.folderFormParent.value = folder.parentFolder ?? "";
  }
  (naming ? ui.folderFormInput : ui.folderFormParent).focus();
}

async function saveFolderForm() {
  const action = state.folderAction;
  const folder = state.folders.get(state.folderId);
  const name = ui.folderFormInput.value.trim();
  if (action !== "move" && !name) {
    showError(ui.foldersError, "The name cannot be empty.");
    ui.folderFormInput.focus();
    return;
  }
  ui.folderForm.setAttribute("aria-busy", "true");
  try {
    let chosen = state.folderId;
    let done;
    if (action === "new") {
      const made = await api("POST", `sites/${state.siteId}/asset_folders`, { displayName: name, parentFolder: state.folderId || null });
      chosen = made.id;
      done = `Created the folder “${name}”.`;
    } else if (action === "rename") {
      await api("PATCH", `asset_folders/${folder.id}`, { displayName: name });
      done = `Renamed the folder to “${name}”.`;
    } else {
      await api("PATCH", `asset_folders/${folder.id}`, { parentFolder: ui.folderFormParent.value || null });
      done = `Moved the folder “${folder.displayName}”.`;
    }
    closeFolderForms();
    sessionStorage.setItem(STORAGE.folder, chosen);
    await loadFolders(state.siteId);
    // The status is shown once the folder list shows the change, so what it says is on screen.
    ui.folderStatus.textContent = done;
    clearAssets();
    await reloadAssets();
  } catch (err) {
    showError(ui.foldersError, `Could not save the folder. ${errorText(err)}`);
  } finally {
    ui.folderForm.removeAttribute("aria-busy");
  }
}

function openFolderDelete() {
  const folder = state.folders.get(state.folderId);
  if (!folder) return;
  showError(ui.foldersError, "");
  closeFolderForms();
  ui.folderTools.hidden = true;
  ui.folderDeleteQuestion.textContent = `Delete the folder ${folder.path}?`;
  ui.folderDeleteYes.hidden = false;
  ui.folderDeleteAll.hidden = true;
  ui.folderDeleteConfirm.hidden = false;
  ui.folderDeleteNo.focus();
}

async function deleteFolder(recursive) {
  const folder = state.folders.get(state.folderId);
  if (!folder) return;
  try {
    await api("DELETE", `asset_folders/${folder.id}${recursive ? "?recursive=true" : ""}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 409 && !recursive) {
      // Not empty: say so, and offer the recursive delete as a second, explicit choice.
      ui.folderDeleteQuestion.textContent = `${folder.path} has subfolders or assets. Delete it with everything in it? Pages that use those assets' URLs will show broken files.`;
      ui.folderDeleteYes.hidden = true;
      ui.folderDeleteAll.hidden = false;
      ui.folderDeleteNo.focus();
      return;
    }
    showError(ui.foldersError, `Could not delete the folder. ${errorText(err)}`);
    return;
  }
  closeFolderForms();
  sessionStorage.setItem(STORAGE.folder, folder.parentFolder ?? "");
  await loadFolders(state.siteId);
  ui.folderStatus.textContent = `Deleted the folder “${folder.displayName}”${recursive ? " and everything in it" : ""}.`;
  clearAssets();
  await reloadAssets();
}

// ---------------------------------------------------------------------------------------------
// Uploading
//
// Files go one at a time: each needs a Create Asset call, which counts against the token's rate
// limit, and one upload at full speed finishes sooner than several sharing the line.

const queue = [];
let uploading = false;

function setUploadEnabled(enabled) {
  ui.fileInput.disabled = !enabled;
  ui.dropZone.dataset.disabled = String(!enabled);
}

function enqueue(files) {
  if (!state.siteId || files.length === 0) return;
  for (const file of files) {
    // Site and folder are fixed when the file is added, so changing the selection while a batch
    // runs does not redirect the files already waiting.
    queue.push(createUploadItem(file, state.siteId, state.folderId));
  }
  if (!uploading) runQueue();
}

async function runQueue() {
  uploading = true;
  let uploadedToShownSite = false;
  while (queue.length > 0) {
    const item = queue.shift();
    try {
      await uploadOne(item);
      if (item.siteId === state.siteId) uploadedToShownSite = true;
    } catch (err) {
      item.fail(errorText(err));
    }
    ui.clearUploadsButton.hidden = false;
  }
  uploading = false;
  if (uploadedToShownSite) await reloadAssets();
}

async function uploadOne(item) {
  const { file } = item;
  item.update("hashing", "Computing checksum…", 0);
  const fileHash = await md5OfBlob(file, { onProgress: (f) => item.update("hashing", "Computing checksum…", f) });

  item.update("creating", "Preparing the upload…", null);
  const request = { fileName: file.name, fileHash };
  if (item.folderId) request.parentFolder = item.folderId;
  const created = await api("POST", `sites/${item.siteId}/assets`, request);

  try {
    checkSize(file, sizeRange(created.uploadDetails));
    item.update("uploading", "Uploading…", 0);
    await postForm(created.uploadUrl, created.uploadDetails, file, (f) => {
      item.update("uploading", `Uploading… ${Math.floor(f * 100)}%`, f);
    });
  } catch (err) {
    // The created asset stays pending until the server sweeps it. When the file certainly did
    // not land (refused before sending, or by the storage service), remove it now; after a
    // network failure it might have landed, so it is left alone. Best effort: the sweep is the
    // backstop, and the person needs the upload's error, not this one.
    if (err instanceof ApiError && err.refused) api("DELETE", `assets/${created.id}`).catch(() => {});
    throw err;
  }
  item.update("done", "Uploaded.", 1);
}

function refusal(message) {
  const err = new ApiError(message, 0, "refused");
  err.refused = true;
  return err;
}

function checkSize(file, range) {
  if (!range) return;
  if (file.size > range.max) {
    throw refusal(`The file is ${formatBytes(file.size)}, but this server accepts at most ${formatBytes(range.max)} for this type of file.`);
  }
  if (file.size < range.min) {
    throw refusal(file.size === 0 ? "The file is empty. Empty files cannot be uploaded." : `The file is smaller than this server accepts (${formatBytes(range.min)}).`);
  }
}

// The signed POST policy states the sizes the storage service will take
// (["content-length-range", min, max]). Checking it first spares sending a large file only to
// have it refused; the storage service still enforces it either way.
function sizeRange(details) {
  try {
    const [, encoded] = Object.entries(details).find(([name]) => name.toLowerCase() === "policy") ?? [];
    if (!encoded) return null;
    const { conditions } = JSON.parse(atob(encoded));
    const range = conditions.find((c) => Array.isArray(c) && String(c[0]).toLowerCase() === "content-length-range");
    const [min, max] = [Number(range?.[1]), Number(range?.[2])];
    return Number.isFinite(min) && Number.isFinite(max) ? { min, max } : null;
  } catch {
    return null; // Unreadable policy: let the storage service decide.
  }
}

// Step two of Webflow's upload: a browser-style S3 POST. Every signed field goes first, exactly
// as returned and in order, and the file last, because S3 ignores fields after the file
// (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html). XMLHttpRequest rather
// than fetch because only it reports upload progress. No Authorization header: the signed form
// is the credential, and the token must not reach the storage service.
function postForm(url, details, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(details)) form.append(name, value);
    form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.responseText);
      else if (xhr.status >= 400 && xhr.status < 500) reject(refusal(describeS3Error(xhr.status, xhr.responseText)));
      else reject(new ApiError(describeS3Error(xhr.status, xhr.responseText), xhr.status, "s3"));
    });
    xhr.addEventListener("error", () => {
      reject(new ApiError("The upload could not reach the storage service, or it closed the connection. Check the connection and try again.", 0, "network"));
    });
    xhr.addEventListener("abort", () => reject(new ApiError("The upload was cancelled.", 0, "abort")));
    xhr.send(form);
  });
}

function createUploadItem(file, siteId, folderId) {
  const li = ui.uploadTemplate.content.firstElementChild.cloneNode(true);
  const progress = li.querySelector("progress");
  const status = li.querySelector(".upload-status");
  li.dataset.fileName = file.name;
  li.dataset.state = "queued";
  li.querySelector(".upload-name").textContent = file.name;
  li.querySelector(".upload-size").textContent = formatBytes(file.size);
  const folder = state.folders.get(folderId);
  status.textContent = folder ? `Waiting… (into “${folder.path}”)` : "Waiting…";
  progress.setAttribute("aria-label", `Progress of ${file.name}`);
  ui.uploadList.append(li);
  return {
    file,
    siteId,
    folderId,
    // `fraction` null shows an indeterminate bar (a request whose length is unknown).
    update(stateName, text, fraction) {
      li.dataset.state = stateName;
      status.textContent = text;
      if (fraction === null) progress.removeAttribute("value");
      else progress.value = fraction;
    },
    fail(text) {
      li.dataset.state = "error";
      // Only failures interrupt a screen reader; progress updates would be noise.
      status.setAttribute("role", "alert");
      status.textContent = text;
      progress.value = 0;
    },
  };
}

function clearFinishedUploads() {
  for (const li of [...ui.uploadList.children]) {
    if (li.dataset.state === "done" || li.dataset.state === "error") li.remove();
  }
  // Whatever is left is still waiting or running; the button comes back when it finishes.
  ui.clearUploadsButton.hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Listing
//
// The API lists oldest first. The page shows newest first, so fresh uploads are on top: it loads
// the last page, and "Show older assets" walks back towards offset 0.

function clearAssets() {
  state.listGeneration++;
  state.assets = [];
  state.total = 0;
  state.oldestOffset = 0;
  state.listLoaded = false;
  showError(ui.assetsError, "");
  ui.assetsStatus.textContent = "";
  renderAssets();
}

async function fetchAssets(offset, limit) {
  const params = query({ offset, limit, folderId: state.folderId });
  return api("GET", `sites/${state.siteId}/assets?${params}`);
}

async function reloadAssets() {
  if (!state.siteId) return;
  const generation = ++state.listGeneration;
  ui.refreshButton.disabled = true;
  ui.assetList.setAttribute("aria-busy", "true");
  try {
    let page = await fetchAssets(0, PAGE_SIZE);
    let offset = 0;
    const total = page.pagination.total;
    if (total > page.assets.length) {
      offset = Math.max(0, total - PAGE_SIZE);
      page = await fetchAssets(offset, PAGE_SIZE);
    }
    if (generation !== state.listGeneration) return;
    state.assets = page.assets.slice().reverse();
    state.total = page.pagination.total;
    state.oldestOffset = offset;
    state.listLoaded = true;
    showError(ui.assetsError, "");
  } catch (err) {
    if (generation === state.listGeneration) showError(ui.assetsError, `Could not load the assets. ${errorText(err)}`);
  } finally {
    if (generation === state.listGeneration) {
      ui.refreshButton.disabled = !state.siteId;
      ui.assetList.removeAttribute("aria-busy");
      renderAssets();
    }
  }
}

async function loadOlder() {
  const generation = state.listGeneration;
  const limit = Math.min(PAGE_SIZE, state.oldestOffset);
  const offset = state.oldestOffset - limit;
  ui.olderButton.disabled = true;
  try {
    const page = await fetchAssets(offset, limit);
    if (generation !== state.listGeneration) return;
    const known = new Set(state.assets.map((a) => a.id));
    state.assets.push(...page.assets.reverse().filter((a) => !known.has(a.id)));
    state.oldestOffset = offset;
    renderAssets();
  } catch (err) {
    showError(ui.assetsError, `Could not load older assets. ${errorText(err)}`);
  } finally {
    ui.olderButton.disabled = false;
  }
}

// Updates the list in place: existing rows are reused, so a rename in progress (and keyboard
// focus) survives a refresh, and only new rows are inserted.
function renderAssets() {
  const rows = new Map([...ui.assetList.children].map((li) => [li.dataset.assetId, li]));
  const wanted = new Set(state.assets.map((a) => a.id));
  for (const [id, li] of rows) if (!wanted.has(id)) li.remove();
  state.assets.forEach((asset, index) => {
    const li = rows.get(asset.id) ?? createAssetRow(asset.id);
    fillAssetRow(li, asset);
    if (ui.assetList.children[index] !== li) ui.assetList.insertBefore(li, ui.assetList.children[index] ?? null);
  });

  const shown = state.assets.length;
  ui.assetsEmpty.hidden = shown > 0 || !state.listLoaded;
  ui.olderButton.hidden = state.oldestOffset === 0;
  if (!state.siteId) ui.assetsCount.textContent = "";
  else if (shown === state.total) ui.assetsCount.textContent = `${shown} asset${shown === 1 ? "" : "s"}`;
  else ui.assetsCount.textContent = `Newest ${shown} of ${state.total} assets`;
}

function createAssetRow(id) {
  const li = ui.assetTemplate.content.firstElementChild.cloneNode(true);
  li.dataset.assetId = id;
  const find = (testId) => li.querySelector(`[data-testid="${testId}"]`);

  find("rename-button").addEventListener("click", () => openRename(li));
  find("rename-cancel").addEventListener("click", () => closeRename(li));
  find("rename-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveRename(li);
  });
  find("rename-input").addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeRename(li);
  });
  find("move-button").addEventListener("click", () => openMove(li));
  find("move-cancel").addEventListener("click", () => closeRowForm(li, "move-button"));
  find("move-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveMove(li);
  });
  find("alt-button").addEventListener("click", () => openAlt(li));
  find("alt-cancel").addEventListener("click", () => closeRowForm(li, "alt-button"));
  find("alt-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveAlt(li);
  });
  for (const form of ["move-form", "alt-form"]) {
    find(form).addEventListener("keydown", (e) => {
      if (e.key === "Escape") closeRowForm(li, form.replace("-form", "-button"));
    });
  }
  find("copy-button").addEventListener("click", () => copyUrl(li));
  find("replace-button").addEventListener("click", () => find("replace-input").click());
  find("replace-input").addEventListener("change", (e) => {
    const [file] = e.target.files;
    e.target.value = ""; // choosing the same file again is a new replace
    if (file) replaceFile(li, file);
  });
  find("delete-button").addEventListener("click", () => openDelete(li));
  find("delete-no").addEventListener("click", () => closeDelete(li));
  find("delete-yes").addEventListener("click", () => confirmDelete(li));
  li.querySelector(".delete-confirm").addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeDelete(li);
  });
  return li;
}

const IMAGE_TYPES = /^image\/(png|jpeg|gif|svg\+xml|webp|avif|bmp)$/;

function fillAssetRow(li, asset) {
  const name = li.querySelector(".asset-name");
  name.textContent = asset.displayName;
  name.href = asset.hostedUrl;
  name.title = `Open ${asset.displayName}`;

  const thumb = li.querySelector(".thumb");
  thumb.href = asset.hostedUrl;
  if (thumb.dataset.url !== asset.hostedUrl) {
    thumb.dataset.url = asset.hostedUrl;
    thumb.replaceChildren(IMAGE_TYPES.test(asset.contentType) ? thumbnailImage(asset) : typeBadge(asset));
  }

  const parts = [formatBytes(asset.size), asset.contentType, `uploaded ${formatDate(asset.createdOn)}`];
  if (asset.originalFileName && asset.originalFileName !== asset.displayName) parts.push(`from ${asset.originalFileName}`);
  const folder = state.folders.get(asset.folderId);
  if (folder && folder.id !== state.folderId) parts.push(`in ${folder.path}`);
  li.querySelector(".asset-meta").textContent = parts.join(" · ");

  const alt = li.querySelector("[data-testid=asset-alt]");
  alt.hidden = !asset.altText;
  alt.textContent = asset.altText ? `Alt text: ${asset.altText}` : "";

  // The responsive variants the server made (images only); each opens at its own URL.
  const variants = (asset.variants ?? []).filter((v) => v.hostedUrl);
  const details = li.querySelector("[data-testid=variants]");
  details.hidden = variants.length === 0;
  details.querySelector("summary").textContent = `${variants.length} variant${variants.length === 1 ? "" : "s"}`;
  details.querySelector("ul").replaceChildren(
    ...variants.map((v) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = v.hostedUrl;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = `${v.width}${v.height ? `×${v.height}` : " wide"} ${v.format ?? ""}`.trim();
      item.append(link);
      return item;
    }),
  );

  li.querySelector("[data-testid=move-button]").setAttribute("aria-label", `Move ${asset.displayName}`);
  li.querySelector("[data-testid=alt-button]").setAttribute("aria-label", `Alt text of ${asset.displayName}`);
  li.querySelector("[data-testid=copy-button]").setAttribute("aria-label", `Copy the URL of ${asset.displayName}`);
  li.querySelector("[data-testid=replace-button]").setAttribute("aria-label", `Replace the file of ${asset.displayName}`);
  li.querySelector("[data-testid=rename-button]").setAttribute("aria-label", `Rename ${asset.displayName}`);
  li.querySelector("[data-testid=delete-button]").setAttribute("aria-label", `Delete ${asset.displayName}`);
  li.querySelector("[data-testid=rename-input]").setAttribute("aria-label", `New name for ${asset.displayName}`);
}

function thumbnailImage(asset) {
  const img = document.createElement("img");
  img.dataset.testid = "thumbnail";
  img.alt = ""; // the name is right beside it
  img.loading = "lazy";
  img.decoding = "async";
  img.src = asset.hostedUrl;
  img.addEventListener("error", () => img.replaceWith(typeBadge(asset)), { once: true });
  return img;
}

function typeBadge(asset) {
  const badge = document.createElement("span");
  badge.className = "type-badge";
  const dot = asset.originalFileName?.lastIndexOf(".") ?? -1;
  badge.textContent = dot >= 0 ? asset.originalFileName.slice(dot + 1).toUpperCase().slice(0, 6) : "FILE";
  return badge;
}

const assetById = (li) => state.assets.find((a) => a.id === li.dataset.assetId);

function setRowMode(li, mode) {
  li.dataset.mode = mode;
  li.querySelector(".asset-view").hidden = mode === "rename";
  li.querySelector(".rename-form").hidden = mode !== "rename";
  li.querySelector(".move-form").hidden = mode !== "move";
  li.querySelector(".alt-form").hidden = mode !== "alt";
  li.querySelector(".delete-confirm").hidden = mode !== "delete";
  li.querySelector(".asset-actions").hidden = mode !== "view";
}

function setRowBusy(li, busy) {
  li.setAttribute("aria-busy", String(busy));
  for (const button of li.querySelectorAll("button, input")) button.disabled = busy;
}

function openRename(li) {
  const asset = assetById(li);
  if (!asset) return;
  showError(li.querySelector(".asset-error"), "");
  setRowMode(li, "rename");
  const input = li.querySelector("[data-testid=rename-input]");
  input.value = asset.displayName;
  input.focus();
  input.select();
}

function closeRename(li) {
  setRowMode(li, "view");
  showError(li.querySelector(".asset-error"), "");
  li.querySelector("[data-testid=rename-button]").focus();
}

async function saveRename(li) {
  const asset = assetById(li);
  const input = li.querySelector("[data-testid=rename-input]");
  const displayName = input.value.trim();
  const error = li.querySelector(".asset-error");
  if (!asset) return;
  if (!displayName) {
    showError(error, "The name cannot be empty.");
    input.focus();
    return;
  }
  if (displayName === asset.displayName) {
    closeRename(li);
    return;
  }
  setRowBusy(li, true);
  try {
    const updated = await api("PATCH", `assets/${asset.id}`, { displayName });
    Object.assign(asset, updated);
    setRowBusy(li, false);
    fillAssetRow(li, asset);
    closeRename(li);
    ui.assetsStatus.textContent = `Renamed to “${asset.displayName}”.`;
  } catch (err) {
    setRowBusy(li, false);
    showError(error, `Could not rename. ${errorText(err)}`);
    input.focus();
  }
}

function closeRowForm(li, focusTestId) {
  setRowMode(li, "view");
  showError(li.querySelector(".asset-error"), "");
  li.querySelector(`[data-testid=${focusTestId}]`).focus();
}

function openMove(li) {
  const asset = assetById(li);
  if (!asset) return;
  showError(li.querySelector(".asset-error"), "");
  const select = li.querySelector("[data-testid=move-select]");
  select.replaceChildren(...folderOptions("No folder (the site's top level)"));
  select.value = asset.folderId ?? "";
  setRowMode(li, "move");
  select.focus();
}

// Moving keeps the asset's id, URL and bytes (assetd's `parentFolder` in Update Asset). The list
// is read again: the asset may have left the folder shown.
async function saveMove(li) {
  const asset = assetById(li);
  if (!asset) return;
  const target = li.querySelector("[data-testid=move-select]").value || null;
  if (target === (asset.folderId ?? null)) {
    closeRowForm(li, "move-button");
    return;
  }
  setRowBusy(li, true);
  try {
    await api("PATCH", `assets/${asset.id}`, { parentFolder: target });
    const where = target ? state.folders.get(target)?.path ?? "the folder" : "the top level";
    setRowBusy(li, false);
    closeRowForm(li, "move-button");
    ui.assetsStatus.textContent = `Moved “${asset.displayName}” to ${where}.`;
    await reloadAssets();
  } catch (err) {
    setRowBusy(li, false);
    showError(li.querySelector(".asset-error"), `Could not move. ${errorText(err)}`);
  }
}

function openAlt(li) {
  const asset = assetById(li);
  if (!asset) return;
  showError(li.querySelector(".asset-error"), "");
  const input = li.querySelector("[data-testid=alt-input]");
  input.value = asset.altText ?? "";
  setRowMode(li, "alt");
  input.focus();
}

async function saveAlt(li) {
  const asset = assetById(li);
  if (!asset) return;
  const text = li.querySelector("[data-testid=alt-input]").value.trim();
  setRowBusy(li, true);
  try {
    const updated = await api("PATCH", `assets/${asset.id}`, { altText: text || null });
    Object.assign(asset, { altText: updated.altText, lastUpdated: updated.lastUpdated });
    setRowBusy(li, false);
    fillAssetRow(li, asset);
    closeRowForm(li, "alt-button");
    ui.assetsStatus.textContent = text ? `Saved the alt text of “${asset.displayName}”.` : `Removed the alt text of “${asset.displayName}”.`;
  } catch (err) {
    setRowBusy(li, false);
    showError(li.querySelector(".asset-error"), `Could not save the alt text. ${errorText(err)}`);
  }
}

async function copyUrl(li) {
  const asset = assetById(li);
  if (!asset) return;
  try {
    await navigator.clipboard.writeText(asset.hostedUrl);
    ui.assetsStatus.textContent = `Copied the URL of “${asset.displayName}”.`;
  } catch {
    // No clipboard (an insecure origin, or permission refused): show the URL to copy by hand.
    showError(li.querySelector(".asset-error"), `Copy this URL: ${asset.hostedUrl}`);
  }
}

// Replacing keeps the asset's id, folder, name and alt text (assetd's Replace Asset): the same
// two steps as an upload, then the asset is read until it shows the new file, since with an S3
// service the server learns of the bytes a moment after they land.
const REPLACE_WAIT_MS = 15000;

async function replaceFile(li, file) {
  const asset = assetById(li);
  if (!asset) return;
  const error = li.querySelector(".asset-error");
  showError(error, "");
  setRowBusy(li, true);
  try {
    ui.assetsStatus.textContent = `Replacing the file of “${asset.displayName}”…`;
    const fileHash = await md5OfBlob(file);
    const answer = await api("POST", `assets/${asset.id}/replace`, { fileName: file.name, fileHash });
    checkSize(file, sizeRange(answer.uploadDetails));
    await postForm(answer.uploadUrl, answer.uploadDetails, file, () => {});
    const deadline = Date.now() + REPLACE_WAIT_MS;
    let current = await api("GET", `assets/${asset.id}`);
    while (current.hostedUrl !== answer.hostedUrl) {
      if (Date.now() > deadline) throw new ApiError("The new file was sent, but the server has not confirmed it yet. Reload the list in a moment.", 0, "slow");
      await new Promise((resolve) => setTimeout(resolve, 250));
      current = await api("GET", `assets/${asset.id}`);
    }
    Object.assign(asset, current);
    setRowBusy(li, false);
    fillAssetRow(li, asset);
    ui.assetsStatus.textContent = `Replaced the file of “${asset.displayName}” with ${file.name}.`;
  } catch (err) {
    setRowBusy(li, false);
    ui.assetsStatus.textContent = "";
    showError(error, `Could not replace the file. ${errorText(err)}`);
  }
}

function openDelete(li) {
  const asset = assetById(li);
  if (!asset) return;
  showError(li.querySelector(".asset-error"), "");
  li.querySelector(".delete-question").textContent = `Delete “${asset.displayName}”? Pages that use its URL will show a broken file.`;
  setRowMode(li, "delete");
  // Focus the harmless choice, so a stray Enter does not delete.
  li.querySelector("[data-testid=delete-no]").focus();
}

function closeDelete(li) {
  setRowMode(li, "view");
  li.querySelector("[data-testid=delete-button]").focus();
}

async function confirmDelete(li) {
  const asset = assetById(li);
  if (!asset) return;
  setRowBusy(li, true);
  try {
    await api("DELETE", `assets/${asset.id}`);
    ui.assetsStatus.textContent = `Deleted “${asset.displayName}”.`;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) {
      setRowBusy(li, false);
      showError(li.querySelector(".asset-error"), `Could not delete. ${errorText(err)}`);
      return;
    }
    ui.assetsStatus.textContent = `“${asset.displayName}” was already deleted.`;
  }
  state.assets = state.assets.filter((a) => a.id !== asset.id);
  state.total = Math.max(0, state.total - 1);
  renderAssets();
  ui.assetsHeading.focus();
}

// ---------------------------------------------------------------------------------------------
// Formatting

function formatBytes(bytes) {
  if (typeof bytes !== "number") return "size unknown";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "at an unknown time" : dateFormat.format(date);
}

// ---------------------------------------------------------------------------------------------
// Wiring

ui.tokenForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const token = ui.tokenInput.value.trim();
  if (!token) {
    showError(ui.connectError, "Paste an API token first.");
    ui.tokenInput.focus();
    return;
  }
  connect(token);
});
ui.forgetButton.addEventListener("click", forget);

ui.siteSelect.addEventListener("change", () => {
  sessionStorage.removeItem(STORAGE.folder);
  selectSite(ui.siteSelect.value);
});
ui.folderNewButton.addEventListener("click", () => openFolderForm("new"));
ui.folderRenameButton.addEventListener("click", () => openFolderForm("rename"));
ui.folderMoveButton.addEventListener("click", () => openFolderForm("move"));
ui.folderDeleteButton.addEventListener("click", openFolderDelete);
ui.folderForm.addEventListener("submit", (e) => {
  e.preventDefault();
  saveFolderForm();
});
ui.folderForm.addEventListener("keydown", (e) => {
  if (e.key === "Escape") closeFolderForms();
});
ui.folderFormCancel.addEventListener("click", closeFolderForms);
ui.folderDeleteYes.addEventListener("click", () => deleteFolder(false));
ui.folderDeleteAll.addEventListener("click", () => deleteFolder(true));
ui.folderDeleteNo.addEventListener("click", closeFolderForms);
ui.folderSelect.addEventListener("change", () => {
  closeFolderForms();
  state.folderId = ui.folderSelect.value;
  updateFolderTools();
  sessionStorage.setItem(STORAGE.folder, state.folderId);
  clearAssets();
  reloadAssets();
});

ui.fileInput.addEventListener("change", () => {
  enqueue([...ui.fileInput.files]);
  // Cleared so that choosing the same file again fires `change` again.
  ui.fileInput.value = "";
});

const dropEnabled = () => ui.dropZone.dataset.disabled !== "true";
ui.dropZone.addEventListener("dragover", (e) => {
  if (!dropEnabled()) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = "copy";
  ui.dropZone.classList.add("dragging");
});
ui.dropZone.addEventListener("dragleave", (e) => {
  if (!ui.dropZone.contains(e.relatedTarget)) ui.dropZone.classList.remove("dragging");
});
ui.dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  ui.dropZone.classList.remove("dragging");
  if (dropEnabled()) enqueue([...e.dataTransfer.files]);
});
// A file dropped beside the zone would otherwise make the browser open it and leave the page.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (e) => {
    if (!ui.dropZone.contains(e.target)) {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "none";
    }
  });
}

ui.clearUploadsButton.addEventListener("click", clearFinishedUploads);
// Folders too, since they may have been added elsewhere since the site was chosen.
ui.refreshButton.addEventListener("click", () => {
  const siteId = state.siteId;
  loadFolders(siteId).then(() => reloadAssets());
});
ui.olderButton.addEventListener("click", loadOlder);

// A token from earlier in this tab (a reload) reconnects without pasting it again.
const savedToken = sessionStorage.getItem(STORAGE.token);
if (savedToken) connect(savedToken);
