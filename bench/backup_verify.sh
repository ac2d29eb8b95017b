#!/usr/bin/env bash
# Backup, restore and verify throughput beside `cp -a` of the same data directory.
#   bench/backup_verify.sh [SMALL_FILES] [BIG_FILES] [RUNS]     (default 2000 × 50 KiB, 3 × 10 MB, 3)
# Builds a data directory through the API (assetd serve + assetd upload), stops the service,
# then times each command RUNS times on a warm page cache (the data is read once first; the
# machine is shared, so caches are not dropped) and prints a markdown table of the medians.
# Uses target/release/assetd (or ASSETD_BENCH_BINARY).
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${ASSETD_BENCH_BINARY:-${CARGO_TARGET_DIR:-target}/release/assetd}"
[ -x "$binary" ] || { echo "$binary is missing: cargo build --release" >&2; exit 1; }
small=${1:-2000}; big=${2:-3}; runs=${3:-3}

work=$(mktemp -d "${TMPDIR:-/tmp}/assetd-bench-backup.XXXXXX")
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/files"
python3 - "$work/files" "$small" "$big" <<'PY'
import os, sys
out, small, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(small):
    with open(f"{out}/s{i:05}.txt", "wb") as f: f.write(os.urandom(50 * 1024))
for i in range(big):
    with open(f"{out}/b{i}.pdf", "wb") as f: f.write(os.urandom(10_000_000))
PY

"$binary" --data-dir "$work/data" serve --listen 127.0.0.1:0 --rate-limit-per-minute 100000000 \
  > "$work/serve.out" 2>/dev/null &
server=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
site=$(sed -n 's/^assetd: created site //p' "$work/serve.out")
token=$(sed -n 's/.*(shown only this once): //p' "$work/serve.out")
addr=$(sed -n 's/^assetd: listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
"$binary" upload --api "$addr/v2" --token "$token" --site "$site" -j 8 "$work/files" > /dev/null
kill -TERM "$server"; wait "$server" || true

bytes=$(du -sb --apparent-size "$work/data/objects" | cut -f1)
files=$(find "$work/data/objects" -type f | wc -l)
cat "$work"/data/objects/*/* > /dev/null # warm the page cache

# time_of COMMAND…: seconds, median of $runs runs; @OUT@ in COMMAND is a new directory per run.
# Nothing is deleted between runs (all goes at exit): on ext4 without a journal (this machine's
# root), a file created soon after thousands were deleted makes the kernel skip the recently
# freed inodes one by one, which doubled `backup --copy`'s time when each run first removed the
# last run's copy.
time_of() {
  local t=()
  for _ in $(seq "$runs"); do
    local argv=("${@//@OUT@/$(mktemp -u "$work/out.XXXXXX")}")
    local start end
    start=$(date +%s.%N); "${argv[@]}" > /dev/null; end=$(date +%s.%N)
    t+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}
row() { # NAME SECONDS
  printf '| %s | %.3f | %.0f |\n' "$1" "$2" "$(echo "$bytes / $2 / 1000000" | bc -l)"
}
echo
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, $(date -u +%F)"
echo "data: $files objects, $(echo "$bytes / 1000000" | bc) MB ($small × 50 KiB + $big × 10 MB); warm page cache; median of $runs"
echo
echo "| command | seconds | MB/s |"
echo "| --- | ---: | ---: |"
row "cp -a data dir" "$(time_of cp -a "$work/data" @OUT@)"
# backup --copy and restore sync what they write; cp -a does not. This row is the fair one.
row "cp -a data dir, then sync -f" "$(time_of sh -c "cp -a '$work/data' '@OUT@' && sync -f '@OUT@'")"
row "assetd backup (hard links)" "$(time_of "$binary" --data-dir "$work/data" backup --out @OUT@)"
row "assetd backup --copy" "$(time_of "$binary" --data-dir "$work/data" backup --copy --out @OUT@)"
"$binary" --data-dir "$work/data" backup --copy --out "$work/backup" > /dev/null
row "assetd restore" "$(time_of "$binary" --data-dir @OUT@ restore --from "$work/backup")"
row "assetd verify" "$(time_of "$binary" --data-dir "$work/data" verify)"
