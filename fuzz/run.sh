#!/usr/bin/env bash
# Runs each fuzz target for a given time (default 60 s each) with cargo-fuzz (libFuzzer + ASan).
#   fuzz/run.sh [SECONDS] [TARGET...]
# cargo-fuzz needs unstable compiler flags; the machine has one stable toolchain, so
# RUSTC_BOOTSTRAP=1 lets it use them. The corpus in fuzz/corpus/<target> grows as it runs;
# crashes land in fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(policy verify_form create_request file_name)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in "${targets[@]}"; do
  echo "==> $target for ${seconds}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E "^(#|stat::|==|SUMMARY|Done)" | tail -8
done
