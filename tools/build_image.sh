#!/usr/bin/env bash
# Build the tetragon-core image (tetragon-core:<version>, in podman's local storage) from the
# Dockerfile, without an image registry: the Debian 12 base is made here from Debian's mirror
# (debootstrap --variant=minbase, imported as localhost/tg-debian-base:bookworm) and the build
# context is this checkout's wheels (core and the standard sensors, their BPF compiled at build
# time) with their dependencies. As root.
#   tools/build_image.sh [OUT_DIR]    (default build/image; `podman save` it to move it)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/image}
py=.venv/bin/python
version=$($py -c 'import tetragon_core; print(tetragon_core.__version__)')
base=localhost/tg-debian-base:bookworm
rm -rf "$out"
mkdir -p "$out/dist"
dist=$(realpath "$out/dist")
PIP_FIND_LINKS=$dist $py -m build --wheel -o "$dist" . >/dev/null
for p in exec tracepoint kprobe lsm uprobe usdt loader; do
    PIP_FIND_LINKS=$dist $py -m build --wheel -o "$dist" "plugins/$p" >/dev/null
done
# the dependencies as wheels for the image's Python (Debian 12's 3.11, as this venv's)
.venv/bin/pip download -q -d "$dist" --find-links "$dist" 'tetragon-core[sensors]'
if ! podman image exists "$base"; then
    rootfs=$out/base-rootfs
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$out/debootstrap.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import - "$base" >/dev/null
    rm -rf "$rootfs"
fi
# host network: the RUN steps reach Debian's mirror; modest limits: root here cannot raise them
podman build -q --pull=never --network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --build-arg "BASE=$base" -f Dockerfile -t "tetragon-core:$version" "$out" >/dev/null
echo "tetragon-core:$version"
