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
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "warning: missing ${need_pkgs[*]} and not root; tests that need them will be skipped" >&2
  fi
fi
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The workspace has no doc tests; nextest runs everything else and its
# summary is the last line CI reads.
cargo nextest run --workspace --locked --no-fail-fast
