#!/usr/bin/env python3
"""Writes an inventory whose one database host receives a flow from N
clients at scattered addresses, so that its nftables input set holds
2*N elements (two port ranges per client) and a firewall between the two
zones holds the same in its forward set.

Usage: bench/exact-check.py 5000 DIR   (writes DIR/toy.yaml and DIR/inventory.yaml)
"""
import os
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
out = sys.argv[2] if len(sys.argv) > 2 else "."
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "toy.yaml"), "w") as f:
    f.write("""matrix: toy
title: Toy database
version: "1"
roles:
  db: { title: Database }
  client: { title: Client, external: true }
flows:
  - { id: sql, from: client, to: db, proto: tcp, ports: "5432,8000-8010", purpose: queries, cite: bench }
""")
# Every other address, so that no two clients aggregate into one prefix.
cidrs = [f"10.{(2 * i) // 65536 % 256}.{(2 * i) // 256 % 256}.{(2 * i) % 256 + 1}/32" for i in range(n)]
with open(os.path.join(out, "inventory.yaml"), "w") as f:
    f.write("inventory: bench\nproducts:\n  toy:\n    matrix: toy.yaml\n")
    f.write("zones:\n  servers: {}\n  clients: {}\n")
    f.write("networks:\n  clients: { zone: clients, cidrs: [" + ", ".join(cidrs) + "] }\n")
    f.write("bind:\n  toy/client: { networks: [clients] }\n")
    f.write("firewalls:\n  fw: { zones: [servers, clients] }\n")
    f.write("hosts:\n  db1: { addresses: [10.200.0.1], zone: servers, roles: [toy/db] }\n")
