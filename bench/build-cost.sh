#!/usr/bin/env bash
# Cold build cost of a revision, as CI pays it: a fresh copy of REV (git
# archive) and an empty target directory, then the two compiling steps of
# scripts/test.sh, each timed: `cargo clippy --workspace --all-targets` and
# the build of every test (`cargo nextest run --workspace --no-run`).
# With RELEASE=1 also the release binary, with cargo's per-crate timings
# (HTML, under the scratch directory's src/target/cargo-timings).
#
# usage: bench/build-cost.sh REV [FEATURES]   e.g. bench/build-cost.sh main
#        bench/build-cost.sh audit-flows;  bench/build-cost.sh audit-flows portmatrix/distributed
# Results: bench/README.md, section "Build cost of DataFusion".
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:?usage: bench/build-cost.sh REV [FEATURES]}
FEATURES=${2:-}
SCRATCH=${SCRATCH:-/tmp/pm-build-cost-$(echo "$REV$FEATURES" | tr -c 'A-Za-z0-9' -)}
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH/src"
git archive "$REV" | tar -x -C "$SCRATCH/src"
export CARGO_TARGET_DIR="$SCRATCH/target"
feat=()
[ -n "$FEATURES" ] && feat=(--features "$FEATURES")
echo "== $REV $FEATURES ($(git rev-parse --short "$REV")): $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%H:%M) UTC"
# Wall time depends on what else runs on the machine; CPU time (user + system
# of every compiler process) much less, so both are printed.
step() {
  local name=$1
  shift
  (cd "$SCRATCH/src" && /usr/bin/time -f "%e %U %S %M" -o "$SCRATCH/$name.time" "$@" >"$SCRATCH/$name.log" 2>&1)
  read -r wall user sys _ <"$SCRATCH/$name.time"
  echo "   $name: wall ${wall} s, CPU $(echo "$user + $sys" | bc) s (load after: $(cut -d' ' -f1-3 /proc/loadavg))"
}
step clippy cargo clippy --workspace --all-targets --locked "${feat[@]}" -- -D warnings
step tests cargo nextest run --workspace --locked --no-run --cargo-profile dev "${feat[@]}"
# The release binary (what the README's first command waits for): RELEASE=1.
if [ "${RELEASE:-0}" = 1 ]; then
  step release cargo build --release -p portmatrix --locked --timings "${feat[@]}"
fi
du -sh "$CARGO_TARGET_DIR" | sed 's/^/   target: /'
