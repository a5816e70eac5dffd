#!/usr/bin/env bash
# Installs everything tetragon-core needs on a Debian 12 machine, from nothing, idempotently:
# the apt packages, the venv with the core and every plugin, and the BPF objects.
#   --vm  also what the VM test suite needs (tools/vm.py): qemu, Debian's 6.1 kernel with its
#         modules, busybox for virtme-ng's initramfs, kmod's depmod, and virtme-ng in the venv
set -euo pipefail
cd "$(dirname "$0")/.."

VM=0
[[ ${1:-} == --vm ]] && VM=1

APT_PKGS=(make clang llvm bpftool libbpf-dev libbpf1 libelf-dev gcc cpp linux-libc-dev python3 python3-venv python3-dev
          iproute2 procps kmod systemtap-sdt-dev python3.11
          podman containerd runc  # the container tests' real runtimes (tests/kernel/runtimes.py)
          debootstrap)  # tools/build_image.sh: the image's Debian root filesystem
VM_PKGS=(qemu-system-x86 linux-image-amd64 busybox-static)

missing_of() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}
missing=($(missing_of "${APT_PKGS[@]}"))
vm_missing=()
if ((VM)); then vm_missing=($(missing_of "${VM_PKGS[@]}")); fi
if ((${#missing[@]} + ${#vm_missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "bootstrap: missing packages ${missing[*]} ${vm_missing[*]}; run as root to install them" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]} ${vm_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    if ((${#missing[@]})); then apt-get install -y -qq "${missing[@]}" >/dev/null; fi
    # the VM needs none of qemu's or the kernel's recommended packages (GUI, firmware)
    if ((${#vm_missing[@]})); then apt-get install -y -qq --no-install-recommends "${vm_missing[@]}" >/dev/null; fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.tetragon-installed
extras=test
if ((VM)) || grep -qs vm "$stamp"; then extras=test,vm; fi  # once installed, the VM extra stays
if [[ ! -f $stamp || pyproject.toml -nt $stamp || plugins/exec/pyproject.toml -nt $stamp || plugins/tracepoint/pyproject.toml -nt $stamp
      || plugins/kprobe/pyproject.toml -nt $stamp || plugins/lsm/pyproject.toml -nt $stamp
      || plugins/uprobe/pyproject.toml -nt $stamp || plugins/usdt/pyproject.toml -nt $stamp
      || plugins/loader/pyproject.toml -nt $stamp
      || $(cat "$stamp") != "$extras" ]]; then
    # the objects first: the packages' build backend (tetragon_core.bpfbuild) then finds them fresh
    make --no-print-directory bpf
    .venv/bin/pip install -q -U pip "setuptools>=77" wheel
    .venv/bin/pip install -q -e ".[$extras]"
    # the plugins build against the tetragon-core just installed (it is not on PyPI)
    .venv/bin/pip install -q --no-build-isolation -e plugins/exec -e plugins/tracepoint -e plugins/kprobe \
        -e plugins/lsm -e plugins/uprobe -e plugins/usdt -e plugins/loader
    echo "$extras" > "$stamp"
fi
make --no-print-directory bpf
