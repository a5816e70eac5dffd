# tetragon-core's image, from its wheels, on Debian 12 with libbpf. The build context is a
# directory holding dist/: the wheels of tetragon-core and the standard sensors (their BPF
# compiled when the wheels were built, on a machine with clang and BTF) and their dependencies.
# tools/build_image.sh makes that context and builds this file with podman; where no registry can
# be reached it first makes the Debian base itself (debootstrap) and passes it as BASE.
#   docker build -t tetragon-core:0.1.0 build/image
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv libbpf1 libelf1 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY dist/ /tmp/dist/
RUN python3 -m venv /opt/tetragon \
    && /opt/tetragon/bin/pip install --no-cache-dir --no-index --find-links /tmp/dist 'tetragon-core[sensors]' \
    && rm -rf /tmp/dist
ENV PATH=/opt/tetragon/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/opt/tetragon/bin/tetragon"]
