#!/usr/bin/env bash
# Installs everything tetragon-core needs on a Debian 12 machine, from nothing, idempotently:
# the apt packages, the venv with the core and every plugin, and the BPF objects.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(make clang llvm bpftool libbpf-dev libbpf1 libelf-dev gcc cpp linux-libc-dev python3 python3-venv python3-dev
          iproute2 procps kmod)
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "bootstrap: missing packages ${missing[*]}; run as root to install them" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.tetragon-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp || plugins/exec/pyproject.toml -nt $stamp || plugins/tracepoint/pyproject.toml -nt $stamp ]]; then
    .venv/bin/pip install -q -U pip
    .venv/bin/pip install -q -e '.[test]' -e plugins/exec -e plugins/tracepoint
    touch "$stamp"
fi
make --no-print-directory bpf
