#!/usr/bin/env bash
# Deployment diff at scale: `portmatrix diff OLD NEW` between a synthetic
# inventory of N hosts (bench/synthetic.py) and the same inventory with the
# last host of every product decommissioned (N - 5 hosts; the other hosts keep
# their addresses, so the delta is exactly those five hosts' connections).
# Times the table, JSON and the XLSX change request; exit 1 is expected (the
# deployments differ). Times are printed, never asserted.
#
# Usage: bench/diff-scale.sh [HOSTS...]      (default: 1000 10000; N of a few
#        hundred at least, so that every internal role of every product still
#        has a host with N - 5: otherwise planning refuses the new side)
#        BIN=path/to/portmatrix bench/diff-scale.sh   (another build)
#        With target/release/examples/diff_phases built (cargo build --release
#        -p portmatrix-diff --example diff_phases), also the time of each
#        phase: loading and planning each side, the atom delta, the rule
#        deltas, the whole diff without rendering.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/measure.sh
. bench/measure.sh
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(1000 10000)

for n in "${sizes[@]}"; do
  python3 bench/synthetic.py "$n" "$BIN" >"$out/diff-old-$n.yaml"
  python3 bench/synthetic.py "$((n - 5))" "$BIN" >"$out/diff-new-$n.yaml"
  echo "$n hosts against $((n - 5)):"
  "$BIN" diff "$out/diff-old-$n.yaml" "$out/diff-new-$n.yaml" --format json >"$out/diff-$n.json" || [ $? -eq 1 ]
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('  delta:', {k: len(v) for k, v in d.items() if isinstance(v, list)})" "$out/diff-$n.json"
  phases=${PHASES:-target/release/examples/diff_phases}
  if [ -x "$phases" ]; then
    "$phases" "$out/diff-old-$n.yaml" "$out/diff-new-$n.yaml" | sed 's/^/  /'
    measure "diff phases $n hosts" "$phases" "$out/diff-old-$n.yaml" "$out/diff-new-$n.yaml"
  fi
  measure "diff $n hosts (table)" "$BIN" diff "$out/diff-old-$n.yaml" "$out/diff-new-$n.yaml"
  measure "diff $n hosts (json)" "$BIN" diff "$out/diff-old-$n.yaml" "$out/diff-new-$n.yaml" --format json
  measure "diff $n hosts (xlsx)" "$BIN" diff "$out/diff-old-$n.yaml" "$out/diff-new-$n.yaml" --format xlsx -o "$out/diff-$n.xlsx"
done
