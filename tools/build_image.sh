#!/usr/bin/env bash
# Build the tetragon-core image (tetragon-core:<version>, in podman's local storage) without an
# image registry: a Debian 12 root filesystem from Debian's mirror (debootstrap), the wheels of
# this checkout (core and the standard sensors, their BPF compiled at build time) and their
# dependencies installed into /opt/tetragon, imported with `podman import`. As root.
#   tools/build_image.sh [OUT_DIR]    (default build/image; `podman save` it to move it)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/image}
py=.venv/bin/python
version=$($py -c 'import tetragon_core; print(tetragon_core.__version__)')
rm -rf "$out"
mkdir -p "$out/dist"
dist=$(realpath "$out/dist")
PIP_FIND_LINKS=$dist $py -m build --wheel -o "$dist" . >/dev/null
for p in exec tracepoint kprobe lsm uprobe usdt loader; do
    PIP_FIND_LINKS=$dist $py -m build --wheel -o "$dist" "plugins/$p" >/dev/null
done
# the dependencies as wheels for the image's Python (Debian 12's 3.11, as this venv's)
.venv/bin/pip download -q -d "$dist" --find-links "$dist" 'tetragon-core[sensors]'
rootfs=$out/rootfs
debootstrap --variant=minbase --include=python3,python3-venv,libbpf1,libelf1,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >"$out/debootstrap.log"
cp -r "$dist" "$rootfs/tmp/dist"
chroot "$rootfs" python3 -m venv /opt/tetragon
chroot "$rootfs" /opt/tetragon/bin/pip install -q --no-index --find-links /tmp/dist 'tetragon-core[sensors]'
rm -rf "$rootfs/tmp/dist" "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import \
    --change 'ENTRYPOINT ["/opt/tetragon/bin/tetragon"]' \
    --change 'ENV PATH=/opt/tetragon/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "tetragon-core:$version" >/dev/null
echo "tetragon-core:$version"
