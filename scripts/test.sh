#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Installs what a fresh Debian machine lacks, then runs format, lint and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v nft >/dev/null || need_pkgs+=(nftables)
command -v ansible-playbook >/dev/null || need_pkgs+=(ansible-core)
command -v iptables-restore >/dev/null || need_pkgs+=(iptables)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v chromium >/dev/null || need_pkgs+=(chromium)
command -v pdftotext >/dev/null || need_pkgs+=(poppler-utils)
command -v ipset >/dev/null || need_pkgs+=(ipset)
command -v firewall-offline-cmd >/dev/null || need_pkgs+=(firewalld)
command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need_pkgs[*]}"
    apt-get update -qq
    # The tests run firewalld only inside their own namespaces: keep the
    # package from starting it on this machine.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  else
    echo "warning: missing ${need_pkgs[*]} and not root; tests that need them will be skipped" >&2
  fi
fi
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
# Aerleon's aclgen, for the test that renders the Aerleon export on every platform.
if [ ! -x target/aerleon-venv/bin/aclgen ]; then
  python3 -m venv target/aerleon-venv && target/aerleon-venv/bin/pip install -q 'aerleon==1.18.0'
fi
export PORTMATRIX_ACLGEN="$PWD/target/aerleon-venv/bin/aclgen"

cargo fmt --all --check
# One feature set for lint and tests, so the big dependencies build once per
# mode: the default build plus the Ballista cluster path (`distributed`).
features=(--features portmatrix/distributed)
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings
# The workspace has no doc tests; nextest runs everything else and its
# summary is the last line CI reads.
cargo nextest run --workspace --locked --no-fail-fast "${features[@]}"
