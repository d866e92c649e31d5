#!/usr/bin/env bash
# Rollback after kill -9, N times (default 100): in a network namespace made
# for each run, `portmatrix apply` loads iem1 of examples/mixed.yaml with a
# 1 s timeout and a watchdog rollback, is killed with SIGKILL once loaded, the
# session's link is cut, and the script measures when the previous table is
# back, against the deadline the journal recorded. Needs root, iproute2, nft,
# python3 (and iptables, ipset for the iptables target). Touches no
# namespace but the ones it creates (pmxbench-PID-*).
#
#   cargo build --release -p portmatrix
#   sudo bench/apply-rollback.sh target/release/portmatrix 100            # nftables
#   sudo bench/apply-rollback.sh target/release/portmatrix 100 iptables   # own chains
set -euo pipefail
BIN=${1:-target/release/portmatrix}
RUNS=${2:-100}
TARGET=${3:-nftables}
INV=$(cd "$(dirname "$0")/.." && pwd)/examples/mixed.yaml
P=pmxbench-$$
STATE=$(mktemp -d)
cleanup() { ip netns del "$P-h" 2>/dev/null || true; ip netns del "$P-a" 2>/dev/null || true; rm -rf "$STATE"; }
trap cleanup EXIT
PREVIOUS='table inet portmatrix {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 9999 accept comment "previous"
  }
}'

late=()
for i in $(seq 1 "$RUNS"); do
  cleanup; STATE=$(mktemp -d)
  ip netns add "$P-h"; ip netns add "$P-a"
  ip link add pmxb0 netns "$P-h" type veth peer name pmxb1 netns "$P-a"
  ip -n "$P-h" addr add 10.60.0.21/32 dev pmxb0; ip -n "$P-h" link set pmxb0 up; ip -n "$P-h" route add 10.99.0.0/24 dev pmxb0
  ip -n "$P-a" addr add 10.99.0.5/32 dev pmxb1; ip -n "$P-a" link set pmxb1 up
  if [ "$TARGET" = iptables ]; then
    ip netns exec "$P-h" sh -ec 'iptables -N PORTMATRIX-INPUT
      iptables -A PORTMATRIX-INPUT -p tcp --dport 9999 -m comment --comment previous -j ACCEPT
      iptables -I INPUT 1 -m comment --comment "portmatrix: jump to PORTMATRIX-INPUT" -j PORTMATRIX-INPUT'
  else
    echo "$PREVIOUS" | ip netns exec "$P-h" nft -f -
  fi
  ip netns exec "$P-h" "$BIN" apply -i "$INV" --host iem1 --target "$TARGET" --session 10.99.0.5:22 --rollback-via watchdog \
    --timeout 1 --state-dir "$STATE" >/dev/null 2>&1 &
  pid=$!
  until compgen -G "$STATE/journal/*.json" >/dev/null && grep -q applied_ms "$STATE"/journal/*.json 2>/dev/null; do sleep 0.01; done
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  ip -n "$P-a" link set pmxb1 down
  if [ "$TARGET" = iptables ]; then
    until ip netns exec "$P-h" iptables-save -t filter | grep -q '^-A PORTMATRIX-INPUT .*previous'; do sleep 0.005; done
  else
    until ip netns exec "$P-h" nft list table inet portmatrix | grep -q previous; do sleep 0.005; done
  fi
  back=$(date +%s%3N)
  deadline=$(python3 -c 'import json,glob,sys; print(json.load(open(glob.glob(sys.argv[1]+"/journal/*[0-9a-f].json")[0]))["deadline_ms"])' "$STATE")
  late+=($((back - deadline)))
done
printf '%s\n' "${late[@]}" | sort -n | python3 -c '
import sys
v=[int(x) for x in sys.stdin]
print(f"runs {len(v)}; previous ruleset back after the deadline (ms): min {v[0]} median {v[len(v)//2]} max {v[-1]}; over 1000 ms: {sum(x>1000 for x in v)}")'
