#!/usr/bin/env bash
# Times `portmatrix compile --target nftables` against Aerleon generating
# nftables from the policy portmatrix exports for the same plan.
#
# Usage: bench/compare-aerleon.sh [HOSTS]   (default 1000)
# Installs Aerleon from PyPI into bench/out/venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-1000}
out=bench/out
mkdir -p "$out"
[ -x "$out/venv/bin/aclgen" ] || { python3 -m venv "$out/venv" && "$out/venv/bin/pip" install -q aerleon; }
cargo build -q --release -p portmatrix
pm=target/release/portmatrix
python3 bench/synthetic.py "$hosts" "$pm" > "$out/synthetic-$hosts.yaml"
rm -rf "$out/pm" "$out/aer"

now() { date +%s.%N; }
t0=$(now); "$pm" compile -i "$out/synthetic-$hosts.yaml" --target nftables --all -d "$out/pm" 2>/dev/null; t1=$(now)
"$pm" compile -i "$out/synthetic-$hosts.yaml" --target aerleon --all -d "$out/aer" 2>/dev/null
t2=$(now)
"$out/venv/bin/aclgen" --base_directory "$out/aer/aerleon/policies" --definitions_directory "$out/aer/aerleon/def" \
  --output_directory "$out/aer/nft" --max_renderers 2 >/dev/null 2>&1
t3=$(now)
python3 - "$hosts" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
n, t0, t1, t2, t3 = sys.argv[1], *map(float, sys.argv[2:])
pm, aer = t1 - t0, t3 - t2
print(f"hosts={n} portmatrix nftables (text+JSON) {pm:.2f} s; aerleon aclgen nftables {aer:.2f} s; ratio aerleon/portmatrix {aer / pm:.1f}x")
PY
