# tetragon-core: `make` installs everything (apt, venv, BPF objects); `make test` runs every test.
VENV      := .venv
PY        := $(VENV)/bin/python
CLANG     ?= clang
BPFTOOL   ?= bpftool
BPF_CFLAGS := -target bpf -g -O2 -D__TARGET_ARCH_x86 -Wall -Werror -Ibpf/include -Ibpf/lib
VMLINUX   := bpf/include/vmlinux.h
BPF_HDRS  := $(wildcard bpf/lib/*.h)

# sensor object -> its source
EXEC_OBJ  := plugins/exec/src/tetragon_sensor_exec/bpf/bpf_execve.o
TP_OBJ    := plugins/tracepoint/src/tetragon_sensor_tracepoint/bpf/bpf_generic_tracepoint.o
KP_OBJ    := plugins/kprobe/src/tetragon_sensor_kprobe/bpf/bpf_generic_kprobe.o
LSM_OBJ   := plugins/lsm/src/tetragon_sensor_lsm/bpf/bpf_generic_lsm.o
UP_OBJ    := plugins/uprobe/src/tetragon_sensor_uprobe/bpf/bpf_generic_uprobe.o
USDT_DIR  := plugins/usdt/src/tetragon_sensor_usdt/bpf
USDT_OBJS := $(USDT_DIR)/bpf_generic_usdt.o $(USDT_DIR)/bpf_generic_usdt_set.o
LOADER_OBJ := plugins/loader/src/tetragon_sensor_loader/bpf/bpf_loader.o
PROBE_OBJS := src/tetragon_core/bpf/probes/probe_tp_btf.o src/tetragon_core/bpf/probes/probe_features.o
BPF_OBJS  := $(EXEC_OBJ) $(TP_OBJ) $(KP_OBJ) $(LSM_OBJ) $(UP_OBJ) $(USDT_OBJS) $(LOADER_OBJ) $(PROBE_OBJS)
# the SDK's include directory: bpf/lib's headers, shipped in tetragon-core's package
SDK_HDRS  := $(patsubst bpf/lib/%,src/tetragon_core/sdk/include/%,$(BPF_HDRS))

.PHONY: all install bpf test check test-unit test-vm lint run bench bench-all bench-build clean docs-flags docs-metrics image
all: install

install:
	./scripts/bootstrap.sh

bpf: $(BPF_OBJS) $(SDK_HDRS)

src/tetragon_core/sdk/include/%.h: bpf/lib/%.h
	@mkdir -p $(dir $@)
	cp -p $< $@

# CO-RE: vmlinux.h comes from the running kernel's BTF; relocations adapt the objects to others.
$(VMLINUX):
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(EXEC_OBJ): bpf/exec/bpf_execve.c $(BPF_HDRS) $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(TP_OBJ): bpf/tracepoint/bpf_generic_tracepoint.c $(BPF_HDRS) $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(KP_OBJ): bpf/kprobe/bpf_generic_kprobe.c $(BPF_HDRS) $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(LSM_OBJ): bpf/lsm/bpf_generic_lsm.c $(BPF_HDRS) $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(UP_OBJ): bpf/uprobe/bpf_generic_uprobe.c $(BPF_HDRS) $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(LOADER_OBJ): bpf/loader/bpf_loader.c $(BPF_HDRS) $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(USDT_DIR)/%.o: bpf/usdt/%.c bpf/usdt/bpf_generic_usdt.c $(BPF_HDRS) $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

src/tetragon_core/bpf/probes/%.o: bpf/probes/%.c $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

lint:
	$(VENV)/bin/ruff check src plugins tests tools bench examples
	$(VENV)/bin/mypy

test:
	./scripts/test

# lint + every test, assuming `make install` was done
check: lint
	$(PY) -m pytest -p no:cacheprovider -ra tests

test-unit: install
	$(PY) -m pytest -p no:cacheprovider -ra tests/unit

# the VM suite alone (Debian's 6.1 kernel under qemu; `make check` runs it too, via tests/kernel/test_vm.py)
test-vm:
	./scripts/bootstrap.sh --vm
	$(PY) tools/vm.py

run:
	./scripts/run

# docs/flags.md from the agent's own flag tables (a unit test fails when it is stale)
docs-flags:
	$(VENV)/bin/tetragon --generate-docs | $(PY) tools/flagdocs.py > docs/flags.md

# docs/metrics.md from the agent's own metric registrations (a unit test fails when it is stale)
docs-metrics:
	$(VENV)/bin/tetragon --generate-docs | $(PY) tools/metricdocs.py > docs/metrics.md

bench: install
	$(PY) bench/run.py
	$(PY) bench/getevents.py
	$(PY) bench/policy.py
	$(PY) bench/probes.py

# every benchmark, and bench/out/summary.json (issue 17's keys, each with its limit and goal)
bench-all: install
	$(PY) bench/all.py

bench-build: bench/out/bench_emit.o bench/out/c_consumer bench/out/bench_nop_tp.o bench/out/syscall_loop \
	bench/out/bench_nop_uprobe.o bench/out/uprobe_loop bench/out/exec_burst bench/out/exec_paced

bench/out/bench_nop_tp.o: bench/bpf/bench_nop_tp.c $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

bench/out/syscall_loop: bench/syscall_loop.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $<

bench/out/uprobe_loop: bench/uprobe_loop.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $<

bench/out/exec_burst: bench/exec_burst.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $<

bench/out/exec_paced: bench/exec_paced.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $<

bench/out/bench_nop_uprobe.o: bench/bpf/bench_nop_uprobe.c $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

bench/out/bench_emit.o: bench/bpf/bench_emit.c $(BPF_HDRS) $(VMLINUX)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

bench/out/c_consumer: bench/c_consumer.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $< -lbpf

# tetragon-core:<version> in podman's storage (Debian 12 root filesystem, this checkout's wheels)
image: install
	./tools/build_image.sh build/image

clean:
	rm -f $(BPF_OBJS) $(VMLINUX) $(SDK_HDRS)
