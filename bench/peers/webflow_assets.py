"""The peer of `bench/run`: Webflow's "Upload Asset" step 1 as a user would write it without assetd.

FastAPI + uvicorn (run with `--workers 2`, uvloop and httptools), boto3's
`generate_presigned_post`, and stdlib sqlite3 in WAL mode. It does the same work per request as
assetd's `POST /v2/sites/{site_id}/assets`, written the way a careful Python developer would:

- bearer token → SHA-256 → `tokens` row (constant-time compare) → scopes and `token_sites`;
- the site id is 24 hex digits and granted to the token (else 400 / 404 like assetd);
- the body is validated by a pydantic model with assetd's rules and messages, every bad field
  reported at once, in Webflow's error shape; over 16 KiB → 413;
- `parentFolder`, when given, must be a folder of the site;
- the policy pins bucket, key `{siteId}/{assetId}_{fileName}`, acl public-read, Content-Type
  (from the extension), Cache-Control, success_action_status 201 and content-length-range
  1..limit, valid for an hour;
- the pending asset is one INSERT into the same table and indexes as assetd's;
- the answer has assetd's shape (24-hex ObjectIds, RFC 3339 ms timestamps), serialised by
  pydantic's Rust core (FastAPI's fast path for a declared response model).

Per worker process: one sqlite3 connection (WAL, synchronous=NORMAL as assetd, foreign keys on,
a 5 s busy timeout) and one boto3 client, both made once at startup. The endpoint and the auth
dependency are `async def` and call them inline: both are short CPU-bound calls, so a thread pool
would only add hand-offs, and one connection per worker then needs no lock (a plain `def`
dependency would run in FastAPI's thread pool and share the connection across threads). Reads
are fetched to the end (`fetchall`) so no statement keeps a read snapshot open: an INSERT on a
connection still holding one fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT,
which the busy timeout does not cover) as soon as the other worker has written. No rate limiter
(assetd's is set out of the way in the benchmark too) and no access log.

The one place it differs from assetd is the order of checks on *invalid* requests that are
invalid in several ways at once; for valid requests, which the benchmark sends, the work and the
answer are the same.

    python webflow_assets.py init DB          # schema, one site, one token; prints them
    PEER_DB=DB uvicorn --app-dir bench/peers webflow_assets:app --workers 2 ...
"""
import contextlib
import datetime
import hashlib
import hmac
import itertools
import os
import re
import secrets
import sqlite3
import sys
import time
import urllib.parse
from typing import Annotated

import boto3
from botocore.config import Config
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

BODY_LIMIT = 16 * 1024
MAX_FILE_NAME_CHARS = 99
EXPIRY_SECS = int(os.environ.get("PEER_UPLOAD_EXPIRY_SECS", "3600"))
CACHE_CONTROL = os.environ.get("PEER_CACHE_CONTROL", "max-age=31536000, must-revalidate")
BUCKET = os.environ.get("PEER_BUCKET", "assetd")
IMAGE_MAX_BYTES = int(os.environ.get("PEER_IMAGE_MAX_BYTES", str(4 * 1024 * 1024)))
DOCUMENT_MAX_BYTES = int(os.environ.get("PEER_DOCUMENT_MAX_BYTES", str(10 * 1024 * 1024)))

IMAGE, DOCUMENT = "image", "document"
FILE_TYPES = {
    "png": ("image/png", IMAGE),
    "jpg": ("image/jpeg", IMAGE),
    "jpeg": ("image/jpeg", IMAGE),
    "gif": ("image/gif", IMAGE),
    "svg": ("image/svg+xml", IMAGE),
    "webp": ("image/webp", IMAGE),
    "avif": ("image/avif", IMAGE),
    "bmp": ("image/bmp", IMAGE),
    "pdf": ("application/pdf", DOCUMENT),
    "doc": ("application/msword", DOCUMENT),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", DOCUMENT),
    "xls": ("application/vnd.ms-excel", DOCUMENT),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", DOCUMENT),
    "ppt": ("application/vnd.ms-powerpoint", DOCUMENT),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", DOCUMENT),
    "txt": ("text/plain", DOCUMENT),
    "csv": ("text/csv", DOCUMENT),
    "odt": ("application/vnd.oasis.opendocument.text", DOCUMENT),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", DOCUMENT),
    "odp": ("application/vnd.oasis.opendocument.presentation", DOCUMENT),
    "json": ("application/json", DOCUMENT),
    "lottie": ("application/zip", DOCUMENT),
}
HEX32 = re.compile(r"[0-9a-fA-F]{32}")
HEX24 = re.compile(r"[0-9a-fA-F]{24}")
# C0 and C1 controls (Rust's char::is_control) and the bidirectional controls assetd refuses.
BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sites (
    id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, created_on INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY NOT NULL, token_hash BLOB NOT NULL UNIQUE, scopes TEXT NOT NULL,
    created_on INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS token_sites (
    token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, site_id));
CREATE TABLE IF NOT EXISTS asset_folders (
    id TEXT PRIMARY KEY NOT NULL, site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    parent_folder TEXT REFERENCES asset_folders(id), display_name TEXT NOT NULL,
    created_on INTEGER NOT NULL, last_updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY NOT NULL, site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    folder_id TEXT REFERENCES asset_folders(id), original_file_name TEXT NOT NULL,
    display_name TEXT NOT NULL, alt_text TEXT, content_type TEXT NOT NULL,
    file_hash TEXT NOT NULL, storage_key TEXT NOT NULL UNIQUE, size INTEGER,
    state TEXT NOT NULL CHECK (state IN ('pending', 'uploaded', 'failed')),
    upload_expires_at INTEGER NOT NULL, created_on INTEGER NOT NULL, last_updated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS assets_by_site ON assets (site_id, created_on, id);
CREATE INDEX IF NOT EXISTS assets_by_folder ON assets (folder_id);
CREATE INDEX IF NOT EXISTS assets_pending_expiry ON assets (upload_expires_at)
    WHERE state = 'pending';
"""


# --- ids and time -------------------------------------------------------------------------------

_PROCESS_RANDOM = secrets.token_bytes(5)
_COUNTER = itertools.count(secrets.randbelow(1 << 24))


def object_id(now_secs: int) -> str:
    """A MongoDB-style ObjectId: seconds, 5 random bytes per process, a 3-byte counter."""
    count = next(_COUNTER) & 0xFFFFFF
    return (now_secs.to_bytes(4, "big") + _PROCESS_RANDOM + count.to_bytes(3, "big")).hex()


def rfc3339_ms(millis: int) -> str:
    at = datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


# --- errors in Webflow's shape --------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details=()):
        self.status, self.code, self.message, self.details = status, code, message, list(details)


def invalid(details) -> ApiError:
    return ApiError(400, "validation_error", "Validation Error",
                    [{"param": p, "description": d} for p, d in details])


NOT_AUTHORIZED = ApiError(401, "not_authorized", "Request not authorized")


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(status_code=err.status, content={
        "code": err.code, "message": err.message, "externalReference": None,
        "details": err.details})


# --- the request body -------------------------------------------------------------------------------

def file_name_problem(name: str):
    if not name.strip():
        return "File name must not be empty"
    if len(name) > MAX_FILE_NAME_CHARS:
        return f"File names must be less than 100 characters ({MAX_FILE_NAME_CHARS} at most)"
    if "/" in name or "\\" in name:
        return "File name must not contain path separators"
    if BAD_CHARS.search(name):
        return "File name must not contain control characters"
    if name != name.strip():
        return "File name must not start or end with whitespace"
    return None


def file_type(name: str):
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return None
    return FILE_TYPES.get(ext.lower())


class CreateAsset(BaseModel):
    """The Upload Asset body; unknown keys are ignored, as by assetd."""
    model_config = ConfigDict(extra="ignore")

    fileName: str
    fileHash: str
    parentFolder: str | None = None

    @field_validator("fileName")
    @classmethod
    def check_file_name(cls, name: str) -> str:
        if problem := file_name_problem(name):
            raise PydanticCustomError("file_name", problem)
        if file_type(name) is None:
            raise PydanticCustomError(
                "file_name", "File type is not supported; allowed extensions: "
                + ", ".join(FILE_TYPES))
        return name

    @field_validator("fileHash")
    @classmethod
    def check_file_hash(cls, value: str) -> str:
        if not HEX32.fullmatch(value):
            raise PydanticCustomError("file_hash", "Must be the file's MD5 as 32 hex digits")
        return value.lower()

    @field_validator("parentFolder")
    @classmethod
    def check_parent_folder(cls, value):
        if value is not None and not HEX24.fullmatch(value):
            raise PydanticCustomError("object_id", "Provided ID is invalid")
        return value


def body_errors(err: ValidationError) -> ApiError:
    """Pydantic's errors as Webflow `validation_error` details with assetd's descriptions."""
    if any(e["type"] == "json_invalid" for e in err.errors()):
        return ApiError(400, "bad_request", "Bad Request: Request is malformed: invalid JSON")
    details = []
    for e in err.errors():
        param = str(e["loc"][0]) if e["loc"] else "body"
        if e["type"] == "model_type" or not e["loc"]:
            details.append(("body", "Request body must be a JSON object"))
        elif e["type"] == "missing" or e.get("input", 0) is None:
            details.append((param, "Required field is missing"))
        elif e["type"] == "string_type":
            details.append((param, "Must be a string"))
        else:
            details.append((param, e["msg"]))
    return invalid(details)


# --- the response -------------------------------------------------------------------------------

class UploadDetails(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    acl: str
    bucket: str
    algorithm: str = Field(serialization_alias="X-Amz-Algorithm")
    credential: str = Field(serialization_alias="X-Amz-Credential")
    date: str = Field(serialization_alias="X-Amz-Date")
    key: str
    policy: str = Field(serialization_alias="Policy")
    signature: str = Field(serialization_alias="X-Amz-Signature")
    success_action_status: str
    content_type: str = Field(serialization_alias="content-type")
    cache_control: str = Field(serialization_alias="Cache-Control")


class AssetUpload(BaseModel):
    uploadDetails: UploadDetails
    contentType: str
    id: str
    parentFolder: str | None
    uploadUrl: str
    assetUrl: str
    hostedUrl: str
    originalFileName: str
    createdOn: str
    lastUpdated: str


# --- per-worker resources -------------------------------------------------------------------------

def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    return db


class Resources:
    db: sqlite3.Connection
    s3 = None
    public_url = ""
    upload_url = ""


R = Resources()


@contextlib.asynccontextmanager
async def lifespan(_app):
    R.db = connect(os.environ["PEER_DB"])
    endpoint = os.environ.get("PEER_S3_ENDPOINT", "http://127.0.0.1:9000")
    R.s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name=os.environ.get("PEER_REGION", "us-east-1"),
        aws_access_key_id=os.environ["PEER_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["PEER_S3_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    R.public_url = os.environ.get("PEER_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    R.upload_url = f"{endpoint.rstrip('/')}/{BUCKET}"
    yield
    R.db.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.exception_handler(ApiError)
async def on_api_error(_request, err: ApiError):
    return error_response(err)


@app.exception_handler(RequestValidationError)
async def on_request_validation(_request, err: RequestValidationError):
    return error_response(invalid([(str(e["loc"][-1]), e["msg"]) for e in err.errors()]))


# --- authentication -------------------------------------------------------------------------------

class Grant:
    __slots__ = ("token_id", "scopes", "sites")

    def __init__(self, token_id, scopes, sites):
        self.token_id, self.scopes, self.sites = token_id, scopes, sites


async def authenticate(request: Request) -> Grant:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.lstrip(" ")
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        raise NOT_AUTHORIZED
    digest = hashlib.sha256(token.encode()).digest()
    rows = R.db.execute("SELECT id, token_hash, scopes FROM tokens WHERE token_hash = ?",
                        (digest,)).fetchall()
    if not rows or not hmac.compare_digest(rows[0][1], digest):
        raise NOT_AUTHORIZED
    row = rows[0]
    sites = {s for (s,) in R.db.execute(
        "SELECT site_id FROM token_sites WHERE token_id = ?", (row[0],))}
    return Grant(row[0], set(row[2].split(",")), sites)


# --- Upload Asset ---------------------------------------------------------------------------------

@app.post("/v2/sites/{site_id}/assets", response_model=AssetUpload)
async def create_asset(site_id: str, request: Request,
                       grant: Annotated[Grant, Depends(authenticate)]) -> AssetUpload:
    if "assets:write" not in grant.scopes:
        raise ApiError(403, "missing_scopes",
                       "OAuthForbidden: You are missing the following scopes - assets:write")
    if not HEX24.fullmatch(site_id):
        raise invalid([("site_id", "Provided ID is invalid")])
    site_id = site_id.lower()
    if site_id not in grant.sites:
        raise ApiError(404, "resource_not_found",
                       "Requested resource not found: The site cannot be found")
    raw = await request.body()
    if len(raw) > BODY_LIMIT:
        raise ApiError(413, "bad_request",
                       f"Bad Request: Request body is larger than {BODY_LIMIT} bytes")
    try:
        body = CreateAsset.model_validate_json(raw)
    except ValidationError as err:
        raise body_errors(err) from None
    folder = body.parentFolder.lower() if body.parentFolder else None
    if folder and not R.db.execute("SELECT 1 FROM asset_folders WHERE id = ? AND site_id = ?",
                                   (folder, site_id)).fetchall():
        raise invalid([("parentFolder", "No asset folder with this ID exists on this site")])

    content_type, kind = file_type(body.fileName)
    max_bytes = IMAGE_MAX_BYTES if kind == IMAGE else DOCUMENT_MAX_BYTES
    now_ms = time.time_ns() // 1_000_000
    expires_ms = now_ms + EXPIRY_SECS * 1000
    asset_id = object_id(now_ms // 1000)
    key = f"{site_id}/{asset_id}_{body.fileName}"
    post = R.s3.generate_presigned_post(
        Bucket=BUCKET, Key=key,
        Fields={"acl": "public-read", "Content-Type": content_type,
                "Cache-Control": CACHE_CONTROL, "success_action_status": "201"},
        Conditions=[{"acl": "public-read"}, {"Content-Type": content_type},
                    {"Cache-Control": CACHE_CONTROL}, {"success_action_status": "201"},
                    ["content-length-range", 1, max_bytes]],
        ExpiresIn=EXPIRY_SECS)
    try:
        R.db.execute(
            "INSERT INTO assets (id, site_id, folder_id, original_file_name, display_name, "
            "alt_text, content_type, file_hash, storage_key, size, state, upload_expires_at, "
            "created_on, last_updated) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, 'pending', ?, ?, ?)",
            (asset_id, site_id, folder, body.fileName, f"{asset_id}_{body.fileName}",
             content_type, body.fileHash, key, expires_ms, now_ms, now_ms))
    except sqlite3.IntegrityError:
        raise ApiError(404, "resource_not_found",
                       "Requested resource not found: The site cannot be found") from None

    fields = post["fields"]
    stamp = rfc3339_ms(now_ms)
    quoted_key = urllib.parse.quote(key, safe="/")
    return AssetUpload(
        uploadDetails=UploadDetails(
            acl="public-read", bucket=BUCKET, algorithm=fields["x-amz-algorithm"],
            credential=fields["x-amz-credential"], date=fields["x-amz-date"], key=key,
            policy=fields["policy"], signature=fields["x-amz-signature"],
            success_action_status="201", content_type=content_type,
            cache_control=CACHE_CONTROL),
        contentType=content_type, id=asset_id, parentFolder=folder, uploadUrl=R.upload_url,
        assetUrl=f"{R.upload_url}/{quoted_key}", hostedUrl=f"{R.public_url}/files/{quoted_key}",
        originalFileName=body.fileName, createdOn=stamp, lastUpdated=stamp)


# --- set-up -------------------------------------------------------------------------------------

def init(path: str) -> None:
    """Creates the schema, one site and one token with both scopes; prints them as assetd does."""
    db = connect(path)
    db.executescript(SCHEMA)
    now_ms = time.time_ns() // 1_000_000
    site, token_id = object_id(now_ms // 1000), object_id(now_ms // 1000)
    token = secrets.token_hex(32)
    with db:
        db.execute("BEGIN")
        db.execute("INSERT INTO sites VALUES (?, ?, ?)", (site, "bench", now_ms))
        db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)",
                   (token_id, hashlib.sha256(token.encode()).digest(),
                    "assets:read,assets:write", now_ms))
        db.execute("INSERT INTO token_sites VALUES (?, ?)", (token_id, site))
    db.close()
    print(f"peer: created site {site}")
    print(f"peer: created API token (shown only this once): {token}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "init":
        sys.exit("usage: webflow_assets.py init DB")
    init(sys.argv[2])
