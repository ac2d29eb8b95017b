#!/usr/bin/env bash
# API fuzzing from the served OpenAPI document (issue 9).
#
# What it proves: for every operation of /v2/openapi.json (all eight Assets endpoints), requests
# generated from the document itself - valid ones, invalid ones (coverage phase), random ones
# (fuzzing phase) and chains of them (stateful phase) - never get a 5xx, and every response matches
# the document: a documented status code, the documented content type and a body that validates
# against the documented schema.
#
# How: Schemathesis (pinned below, in its own virtualenv target/venv-schemathesis) runs against
# target/debug/assetd on a fresh data directory under target/ and a free loopback port. The
# server's real site, a few real folders and assets (uploaded and pending) and real MD5s are
# offered as dictionaries, each used for part of the draws only, so the run both gets past the
# 404s and still tries random ids.
#
# Usage: scripts/reliability/schemathesis.sh [--max-examples N] [--seed S] [-- extra schemathesis args]
#   Environment: ASSETD_BIN (default target/debug/assetd).
#   Reports (JUnit, HAR) and the server log go to target/reliability/schemathesis/.
#   Exit status: non-zero when Schemathesis reports a failure or an error, when any response was a
#   5xx, or when the server died during the run.
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
VENV=target/venv-schemathesis
BIN=${ASSETD_BIN:-target/debug/assetd}
MAX_EXAMPLES=50
SEED=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --max-examples) MAX_EXAMPLES=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

# The checks: no 5xx, and conformance of status code, content type and body to the document.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance

if [ ! -x "$VENV/bin/schemathesis" ] \
  || [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "==> installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

OUT=target/reliability/schemathesis
mkdir -p target/reliability
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$(mktemp -d target/reliability/schemathesis-data.XXXXXX)
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> starting $BIN on a free port (data in $WORK)"
# setsid: Ctrl-C reaches this script and Schemathesis, not the server, which cleanup stops.
setsid "$BIN" --data-dir "$WORK/data" serve --listen 127.0.0.1:0 --rate-limit-per-minute 100000000 \
  > "$OUT/server.stdout" 2> "$OUT/server.log" &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 300); do
  BASE=$(sed -n 's/^assetd: listening on \(http:[^ ]*\).*/\1/p' "$OUT/server.stdout")
  [ -n "$BASE" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "assetd exited; its log:" >&2; tail -20 "$OUT/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$BASE" ] || { echo "assetd printed no address" >&2; exit 1; }
SITE=$(sed -n 's/^assetd: created site \([0-9a-f]*\)$/\1/p' "$OUT/server.stdout")
TOKEN=$(sed -n 's/^assetd: created API token (shown only this once): \([0-9a-f]*\)$/\1/p' "$OUT/server.stdout")
echo "    $BASE, site $SITE"

# Real folders and assets for the dictionaries: two folders (one nested), three uploaded assets
# and two pending ones. The stateful phase may delete some; later draws then see their 404s.
"$VENV/bin/python" - "$BASE" "$SITE" "$TOKEN" "$OUT/schemathesis.toml" "$PWD/target/reliability/schemathesis-cache" <<'PY'
import hashlib, json, sys
import requests

base, site, token, config_path, cache_dir = sys.argv[1:]
auth = {"Authorization": f"Bearer {token}"}

def post(path, body):
    r = requests.post(f"{base}/v2{path}", json=body, headers=auth, timeout=10)
    r.raise_for_status()
    return r.json()

top = post(f"/sites/{site}/asset_folders", {"displayName": "fuzz-top"})["id"]
nested = post(f"/sites/{site}/asset_folders", {"displayName": "fuzz-nested", "parentFolder": top})["id"]
assets, hashes = [], []
for i, (name, folder) in enumerate([("a.png", None), ("b.txt", top), ("c.pdf", nested), ("d.jpg", None), ("e.csv", top)]):
    data = f"seed asset {i}\n".encode() * (i + 1)
    md5 = hashlib.md5(data).hexdigest()
    created = post(f"/sites/{site}/assets", {"fileName": name, "fileHash": md5, "parentFolder": folder})
    if i < 3:  # the last two stay pending
        r = requests.post(created["uploadUrl"], data=created["uploadDetails"],
                          files={"file": (name, data, created["contentType"])}, timeout=10)
        assert r.status_code == 201, r.text
    assets.append(created["id"])
    hashes.append(md5)

def values(items):
    return json.dumps(items)

# Each binding is used for part of the draws only; the rest stay random, so invalid and unknown
# ids are exercised as well.
with open(config_path, "w") as f:
    f.write(f"""\
# Schemathesis' state (by default .schemathesis/ in the working directory) stays under target/.
[cache]
directory = {json.dumps(cache_dir)}

[dictionaries.site]
values = {values([site])}
[dictionaries.asset]
values = {values(assets)}
[dictionaries.folder]
values = {values([top, nested])}
[dictionaries.md5]
values = {values(hashes)}
[dictionaries.file_name]
values = ["photo.png", "notes.txt", "report.pdf", "clip.mp4", "image.webp", "data.json"]

[parameters]
"path.site_id" = {{ dictionary = "site", probability = 0.75 }}
"path.asset_id" = {{ dictionary = "asset", probability = 0.6 }}
"path.asset_folder_id" = {{ dictionary = "folder", probability = 0.6 }}
"query.folderId" = {{ dictionary = "folder", probability = 0.5 }}
"body.parentFolder" = {{ dictionary = "folder", probability = 0.4 }}
"body.fileHash" = {{ dictionary = "md5", probability = 0.6 }}
"body.fileName" = {{ dictionary = "file_name", probability = 0.6 }}
""")
print(f"    seeded folders {top} {nested}; assets {' '.join(assets)} (last two pending)")
PY

# One worker: with several, Hypothesis 6.170 sometimes fails with "AST constructor recursion
# depth mismatch" (a race in its lambda-source cache), an error of the tool, not of the API.
ARGS=(run "$BASE/v2/openapi.json"
  -H "Authorization: Bearer $TOKEN"
  --checks "$CHECKS"
  --max-examples "$MAX_EXAMPLES"
  --workers 1
  --request-timeout 10
  --no-color
  --report junit,har --report-dir "$OUT")
[ -n "$SEED" ] && ARGS+=(--seed "$SEED")
echo "==> schemathesis $SCHEMATHESIS_VERSION: all operations, checks $CHECKS, max $MAX_EXAMPLES examples per operation"
set +e
"$VENV/bin/schemathesis" --config-file "$OUT/schemathesis.toml" "${ARGS[@]}" "${EXTRA[@]}" 2>&1 | tee "$OUT/schemathesis.log"
RC=${PIPESTATUS[0]}
set -e

SERVER_ALIVE=yes
kill -0 "$SERVER_PID" 2>/dev/null || SERVER_ALIVE=no

# Our own count of what was sent, from the HAR report: responses per status class, and any 5xx.
echo "==> responses by operation path and status (from the HAR report)"
FIVE_XX=$(python3 - "$OUT" <<'PY'
import collections, glob, json, re, sys

har = json.load(open(glob.glob(f"{sys.argv[1]}/har-*.json")[0]))
by_status = collections.Counter()
by_route = collections.Counter()
five = []
for entry in har["log"]["entries"]:
    req, res = entry["request"], entry["response"]
    path = re.sub(r"^https?://[^/]+", "", req["url"]).split("?")[0]
    segments = path.split("/")
    # /v2/sites/{id}/assets -> /v2/sites/*/assets; /v2/assets/{id} -> /v2/assets/*
    route = "/".join(s if i in (0, 1, 2, 4) else "*" for i, s in enumerate(segments) if i < 5)
    by_status[res["status"]] += 1
    by_route[(req["method"], route, res["status"])] += 1
    if res["status"] >= 500:
        five.append(f'{req["method"]} {req["url"]} -> {res["status"]}')
for (method, route, status), n in sorted(by_route.items()):
    print(f"    {method:7} {route:28} {status} x{n}", file=sys.stderr)
total = sum(by_status.values())
print(f"    {total} requests; by status: {dict(sorted(by_status.items()))}", file=sys.stderr)
for line in five:
    print(f"    5xx: {line}", file=sys.stderr)
print(len(five))
PY
)

echo "==> summary: schemathesis exit $RC, 5xx responses $FIVE_XX, server alive after run: $SERVER_ALIVE"
echo "    reports: $OUT (junit XML, HAR, schemathesis.log, server.log)"
if [ "$RC" != 0 ] || [ "$FIVE_XX" != 0 ] || [ "$SERVER_ALIVE" != yes ]; then
  exit 1
fi
