#!/usr/bin/env bash
# apply + confirm of a large ruleset: examples/mixed.yaml with the users
# network made of N single addresses (default 10,000, every other address of
# 10.20.0.0/16 upwards, so none merge), applied to rem1 (whose REM server the
# users reach) in a namespace made for the run, then confirmed. Prints the
# number of set elements loaded and the journal's times. Root, iproute2, nft.
#
#   cargo build --release -p portmatrix
#   sudo bench/apply-scale.sh target/release/portmatrix 10000
set -euo pipefail
BIN=${1:-target/release/portmatrix}
N=${2:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=pmxscale-$$
WORK=$(mktemp -d)
cleanup() { ip netns del "$P" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
python3 - "$ROOT/examples/mixed.yaml" "$N" > "$WORK/inv.yaml" <<'PY'
import sys, ipaddress
text, n = open(sys.argv[1]).read(), int(sys.argv[2])
base = int(ipaddress.IPv4Address("10.20.0.0"))
cidrs = ", ".join(f"{ipaddress.IPv4Address(base + 2 * i)}/32" for i in range(n))
old = 'users:        { cidrs: [10.20.0.0/16, "2001:db8:20::/48"], zone: users }'
assert old in text
print(text.replace(old, f"users: {{ cidrs: [{cidrs}], zone: users }}"))
PY
ip netns add "$P"
ip -n "$P" link set lo up
ip -n "$P" link add pmxs0 type veth peer name pmxs1; ip -n "$P" addr add 10.60.0.11/32 dev pmxs0; ip -n "$P" link set pmxs0 up
t0=$(date +%s%3N)
id=$(ip netns exec "$P" "$BIN" apply -i "$WORK/inv.yaml" --host rem1 --session 10.99.0.5:22 --detach \
  --rollback-via watchdog --timeout 120 --state-dir "$WORK/state" 2>"$WORK/apply.log")
t1=$(date +%s%3N)
ip netns exec "$P" "$BIN" apply --confirm "$id" --state-dir "$WORK/state" 2>/dev/null
t2=$(date +%s%3N)
elements=$(ip netns exec "$P" nft -j list table inet portmatrix | python3 -c '
import json,sys
print(sum(len(o["set"].get("elem", [])) for o in json.load(sys.stdin)["nftables"] if "set" in o))')
python3 - "$WORK/state/journal/$id.json" "$t0" "$t1" "$t2" "$elements" <<'PY'
import json, sys
e = json.load(open(sys.argv[1])); t0, t1, t2, el = map(int, sys.argv[2:])
print(f"{el} set elements; apply (plan, compile, guard, checks, diff, snapshot, arm, load) {t1 - t0} ms "
      f"of which from journal entry to loaded {e['applied_ms'] - e['started_ms']} ms; confirm {t2 - t1} ms; outcome {e['outcome']['state']}")
PY
