#!/usr/bin/env bash
# Loading and planning at scale: `portmatrix plan --summary` of synthetic
# inventories (bench/synthetic.py) of 50,000, 100,000 and 200,000 hosts, and
# the load alone (the same inventory with its last host written twice: the
# loader reads and checks everything, then refuses the duplicate key before
# planning). Prints wall seconds, CPU seconds (user + system: steadier than
# wall time on a shared machine) and peak memory; times are not asserted.
#
# Also times `portmatrix check` of a matrix of 10,000 flows (the duplicate
# and listen-conflict lint).
#
# Usage: bench/plan-scale.sh [HOSTS...]      (default: 50000 100000 200000)
#        BIN=path/to/portmatrix bench/plan-scale.sh   (another build)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/measure.sh
. bench/measure.sh
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(50000 100000 200000)

for n in "${sizes[@]}"; do
  python3 bench/synthetic.py "$n" "$BIN" >"$out/plan-$n.yaml"
  python3 bench/synthetic.py "$n" "$BIN" --duplicate-last >"$out/load-$n.yaml"
  echo "$n hosts: $(wc -c <"$out/plan-$n.yaml") bytes"
  measure "load $n hosts" "$BIN" plan -i "$out/load-$n.yaml" --summary
  measure "load + plan $n hosts" "$BIN" plan -i "$out/plan-$n.yaml" --summary
done

# 10,000 flows between 100 roles, each on its own port (a few overlap):
# the overlap lint compares only flows that share a protocol and ports.
python3 - >"$out/flows-10000.yaml" <<'EOF'
print('matrix: big\ntitle: Big\nversion: "1"\nroles:')
for r in range(100):
    print(f'  r{r}: {{ title: R{r} }}')
print('flows:')
for i in range(10000):
    print(f'  - id: f{i}\n    from: r{i % 100}\n    to: r{(i * 7 + 1) % 100}\n    proto: tcp\n'
          f'    ports: {10000 + i % 9000}\n    purpose: p\n    cite: c')
EOF
measure "check 10,000 flows" "$BIN" check "$out/flows-10000.yaml"
