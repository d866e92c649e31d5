#!/usr/bin/env python3
"""Writes a synthetic inventory of N hosts running the five catalog products.

Usage: bench/synthetic.py 10000 target/release/portmatrix > /tmp/big.yaml
       bench/synthetic.py 10000 target/release/portmatrix --duplicate-last > /tmp/load.yaml

`--duplicate-last` writes the last host twice: loading then reads and checks
the whole inventory and fails on that duplicate key (exit 2) before any
planning, so timing it times the load alone (see bench/plan-scale.sh).

Each product gets N/5 hosts, one internal role per host, round-robin, with
contiguous addresses per product (as real server subnets would be). Every
external role and `any` is bound to a users network.
"""
import json
import subprocess
import sys

flags = [a for a in sys.argv[1:] if a.startswith("--")]
args = [a for a in sys.argv[1:] if not a.startswith("--")]
n = int(args[0]) if len(args) > 0 else 10000
binary = args[1] if len(args) > 1 else "target/release/portmatrix"
products = {
    "acd": ("jtel-acd", "{ redundancy: true }", "{}"),
    "stack": ("jtel-stack", "{}", "{}"),
    "rem": ("moderro-rem", "{ rem-ha: true }", "{}"),
    "ucs": ("imagicle-ucsuite", "{ ha: true }", "{}"),
    "pom": ("avaya-pom", "{ multi-pom: true }", "{ zones: 3 }"),
}
out = ["inventory: synthetic", "products:"]
roles = {}
for name, (matrix, feats, params) in products.items():
    out += [f"  {name}:", f"    matrix: {matrix}", f"    features: {feats}", f"    params: {params}"]
    m = json.loads(subprocess.check_output([binary, "show", matrix, "--format", "json"]))
    roles[name] = m["roles"]
out += ["zones:", "  servers: {}", "  users: {}", "networks:",
        "  users: { cidrs: [172.16.0.0/16], zone: users }",
        "  admin: { cidrs: [172.31.0.0/24], zone: users }",
        "admin: { networks: [admin] }", "bind:"]
for name, rs in roles.items():
    out.append(f"  {name}/any: {{ networks: [users] }}")
    for r, spec in rs.items():
        if spec.get("external"):
            out.append(f"  {name}/{r}: {{ networks: [users] }}")
out.append("hosts:")
per = n // len(products)
for pi, (name, rs) in enumerate(roles.items()):
    internal = [r for r, spec in rs.items() if not spec.get("external")]
    for i in range(per):
        role = internal[i % len(internal)]
        addr = f"10.{pi + 1}.{i // 250}.{i % 250 + 1}"
        out.append(f"  {name}-{i}: {{ addresses: [{addr}], zone: servers, roles: [{name}/{role}] }}")
if "--duplicate-last" in flags:
    out.append(out[-1])
print("\n".join(out))
