#!/bin/sh
# The exact check of a 10,000-element ruleset against its plan: a database
# host whose input set (and a firewall whose forward set) holds 2 x N
# elements. Prints read and check times (median of 7, release build).
#
# Usage: bench/exact-check.sh [N]   (default 5000 clients = 10,000 elements)
set -eu
n=${1:-5000}
cd "$(dirname "$0")/.."
out=bench/out/exact-check
rm -rf "$out"
mkdir -p "$out"
cargo build --release -q -p portmatrix
cargo build --release -q -p portmatrix-proof --example bench_check
python3 bench/exact-check.py "$n" "$out"
bin=target/release/portmatrix
ex=target/release/examples/bench_check
$bin compile -i "$out/inventory.yaml" --target nftables --host db1 -d "$out/nft" 2>/dev/null
$bin compile -i "$out/inventory.yaml" --target nftables --firewall fw -d "$out/nft" 2>/dev/null
$bin compile -i "$out/inventory.yaml" --target iptables --host db1 -d "$out/ipt" 2>/dev/null
$ex "$out/inventory.yaml" host db1 "$out/nft/db1.nft.json"
$ex "$out/inventory.yaml" firewall fw "$out/nft/fw.nft.json"
$ex "$out/inventory.yaml" host db1 "$out/ipt/db1.iptables" "$out/ipt/db1.ip6tables" "$out/ipt/db1.ipset"
echo "whole command (load inventory, plan, read, check):"
/usr/bin/time -f "%e s, %M KiB" $bin audit rules -i "$out/inventory.yaml" --host db1 "$out/nft/db1.nft.json" | tail -1
