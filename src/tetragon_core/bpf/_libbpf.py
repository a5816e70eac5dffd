"""ctypes binding to the system libbpf (``libbpf.so.1``).

This is the one layer where errno values and libbpf failures become tetragon-core exceptions.
Everything above it calls the small wrappers here and never sees a raw return code.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as _errno
import os
import struct
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tetragon_core.exceptions import BpfAttachError, BpfError, BpfLoadError, BpfMapError, MapKeyNotFound

_lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p
c_int = ctypes.c_int
c_uint32 = ctypes.c_uint32
c_size_t = ctypes.c_size_t


def _fn(name: str, restype: object, *argtypes: object) -> Any:
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# Objects and programs.
_open_file = _fn("bpf_object__open_file", c_void_p, c_char_p, c_void_p)
_obj_load = _fn("bpf_object__load", c_int, c_void_p)
_obj_close = _fn("bpf_object__close", None, c_void_p)
_obj_name = _fn("bpf_object__name", c_char_p, c_void_p)
_next_program = _fn("bpf_object__next_program", c_void_p, c_void_p, c_void_p)
_next_map = _fn("bpf_object__next_map", c_void_p, c_void_p, c_void_p)
_prog_name = _fn("bpf_program__name", c_char_p, c_void_p)
_prog_section = _fn("bpf_program__section_name", c_char_p, c_void_p)
_prog_fd = _fn("bpf_program__fd", c_int, c_void_p)
_prog_set_log_level = _fn("bpf_program__set_log_level", c_int, c_void_p, c_uint32)
_prog_set_autoload = _fn("bpf_program__set_autoload", c_int, c_void_p, ctypes.c_bool)
_prog_set_attach_target = _fn("bpf_program__set_attach_target", c_int, c_void_p, c_int, c_char_p)
_prog_attach = _fn("bpf_program__attach", c_void_p, c_void_p)
_prog_attach_tp = _fn("bpf_program__attach_tracepoint", c_void_p, c_void_p, c_char_p, c_char_p)
_prog_attach_raw_tp = _fn("bpf_program__attach_raw_tracepoint", c_void_p, c_void_p, c_char_p)
_prog_attach_kprobe = _fn("bpf_program__attach_kprobe", c_void_p, c_void_p, ctypes.c_bool, c_char_p)
_prog_attach_uprobe = _fn(
    "bpf_program__attach_uprobe", c_void_p, c_void_p, ctypes.c_bool, c_int, c_char_p, c_size_t
)


class _UprobeOpts(ctypes.Structure):
    _fields_ = [
        ("sz", c_size_t),
        ("ref_ctr_offset", c_size_t),
        ("bpf_cookie", ctypes.c_uint64),
        ("retprobe", ctypes.c_bool),
        ("func_name", c_char_p),
    ]


_prog_attach_uprobe_opts = _fn(
    "bpf_program__attach_uprobe_opts",
    c_void_p,
    c_void_p,
    c_int,
    c_char_p,
    c_size_t,
    ctypes.POINTER(_UprobeOpts),
)
_link_destroy = _fn("bpf_link__destroy", c_int, c_void_p)
_link_pin = _fn("bpf_link__pin", c_int, c_void_p, c_char_p)
_link_unpin = _fn("bpf_link__unpin", c_int, c_void_p)
_link_fd = _fn("bpf_link__fd", c_int, c_void_p)

# Maps.
_map_name = _fn("bpf_map__name", c_char_p, c_void_p)
_map_fd = _fn("bpf_map__fd", c_int, c_void_p)
_map_reuse_fd = _fn("bpf_map__reuse_fd", c_int, c_void_p, c_int)
_map_set_max_entries = _fn("bpf_map__set_max_entries", c_int, c_void_p, c_uint32)
_map_max_entries = _fn("bpf_map__max_entries", c_uint32, c_void_p)
_map_type = _fn("bpf_map__type", c_int, c_void_p)
_map_key_size = _fn("bpf_map__key_size", c_uint32, c_void_p)
_map_value_size = _fn("bpf_map__value_size", c_uint32, c_void_p)
_map_set_pin_path = _fn("bpf_map__set_pin_path", c_int, c_void_p, c_char_p)
_map_unpin = _fn("bpf_map__unpin", c_int, c_void_p, c_char_p)
_map_initial_value = _fn("bpf_map__initial_value", c_void_p, c_void_p, ctypes.POINTER(c_size_t))
_map_set_initial_value = _fn("bpf_map__set_initial_value", c_int, c_void_p, c_void_p, c_size_t)

# Low-level syscall wrappers.
_map_create = _fn("bpf_map_create", c_int, c_int, c_char_p, c_uint32, c_uint32, c_uint32, c_void_p)
_map_lookup = _fn("bpf_map_lookup_elem", c_int, c_int, c_void_p, c_void_p)
_map_update = _fn("bpf_map_update_elem", c_int, c_int, c_void_p, c_void_p, ctypes.c_uint64)
_map_delete = _fn("bpf_map_delete_elem", c_int, c_int, c_void_p)
_map_next_key = _fn("bpf_map_get_next_key", c_int, c_int, c_void_p, c_void_p)
_obj_pin = _fn("bpf_obj_pin", c_int, c_int, c_char_p)
_obj_get = _fn("bpf_obj_get", c_int, c_char_p)


class _TestRunOpts(ctypes.Structure):
    _fields_ = [
        ("sz", c_size_t),
        ("data_in", c_void_p),
        ("data_out", c_void_p),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("ctx_in", c_void_p),
        ("ctx_out", c_void_p),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("retval", c_uint32),
        ("repeat", c_int),
        ("duration", c_uint32),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
    ]


_prog_test_run = _fn("bpf_prog_test_run_opts", c_int, c_int, ctypes.POINTER(_TestRunOpts))
_probe_prog_type = _fn("libbpf_probe_bpf_prog_type", c_int, c_int, c_void_p)
_probe_map_type = _fn("libbpf_probe_bpf_map_type", c_int, c_int, c_void_p)
_probe_helper = _fn("libbpf_probe_bpf_helper", c_int, c_int, c_int, c_void_p)
_num_possible_cpus = _fn("libbpf_num_possible_cpus", c_int)
_strerror = _fn("libbpf_strerror", c_int, c_int, ctypes.c_char_p, c_size_t)

_vsnprintf = _libc.vsnprintf
_vsnprintf.restype = c_int
_vsnprintf.argtypes = [ctypes.c_char_p, c_size_t, c_char_p, c_void_p]

# libbpf's print callback: (level, fmt, va_list). On x86-64 a va_list argument decays to a pointer,
# so it can be handed straight to vsnprintf.
_PRINT_FN = ctypes.CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)
_set_print = _fn("libbpf_set_print", c_void_p, _PRINT_FN)

LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG = 0, 1, 2

_log_local = threading.local()


# One buffer for all messages: libbpf prints a whole verifier log in a single call, and a va_list
# cannot be replayed to retry with a larger one.
_PRINT_BUF = ctypes.create_string_buffer(4 << 20)
_print_lock = threading.Lock()


# libbpf prints a program's verifier log with this format (at debug level) after a load that asked
# for one; it may be far larger than _PRINT_BUF.
_VERIFIER_FMT = b"libbpf: prog '%s': -- BEGIN PROG LOAD LOG --"
_VA_LIST_SIZE = 24  # x86-64 SysV: gp_offset, fp_offset, overflow_arg_area, reg_save_area


def _format_whole(fmt: bytes, args: int) -> str:
    """Format a message of any length: measure, rewind the va_list (va_copy's effect), format."""
    saved = ctypes.string_at(args, _VA_LIST_SIZE)
    n = _vsnprintf(None, 0, fmt, args)
    ctypes.memmove(args, saved, _VA_LIST_SIZE)
    if n <= 0:
        return ""
    buf = ctypes.create_string_buffer(n + 1)
    _vsnprintf(buf, n + 1, fmt, args)
    return buf.value.decode("utf-8", "replace")


def _print_py(level: int, fmt: bytes, args: int) -> int:
    verifier: list[str] | None = getattr(_log_local, "verifier", None)
    if verifier is not None and level == LIBBPF_DEBUG and fmt.startswith(_VERIFIER_FMT):
        verifier.append(_format_whole(fmt, args))
        return 0
    sink: list[str] | None = getattr(_log_local, "sink", None)
    if sink is None or level > LIBBPF_INFO:
        return 0
    with _print_lock:
        n = _vsnprintf(_PRINT_BUF, len(_PRINT_BUF), fmt, args)
        if n > 0:
            sink.append(_PRINT_BUF.value.decode("utf-8", "replace"))
    return 0


_print_cb = _PRINT_FN(_print_py)  # kept referenced: libbpf holds the pointer for good
_set_print(_print_cb)


def errmsg(err: int) -> str:
    """libbpf's text for a (positive) error number."""
    buf = ctypes.create_string_buffer(256)
    _strerror(err, buf, len(buf))
    return buf.value.decode() or os.strerror(err)


def _last_errno(default: int = _errno.EINVAL) -> int:
    return ctypes.get_errno() or default


T = TypeVar("T")


def capture_log(fn: Callable[[], T]) -> tuple[T, str]:
    """Run ``fn`` and return its result with everything libbpf printed meanwhile."""
    sink: list[str] = []
    _log_local.sink = sink
    try:
        return fn(), "".join(sink)
    finally:
        _log_local.sink = None


# --- object lifecycle ------------------------------------------------------------------------


def open_object(path: str) -> int:
    """Open an ELF object; returns the ``struct bpf_object *``."""
    ptr, log = capture_log(lambda: _open_file(os.fsencode(path), None))
    if not ptr:
        err = _last_errno()
        raise BpfLoadError(f"cannot open BPF object {path}: {errmsg(err)}", err, log)
    return int(ptr)


def load_object(obj: int, what: str, *, verifier_logs: bool = False) -> dict[str, str]:
    """Load every autoloaded program and create or reuse every map of ``obj``.

    With ``verifier_logs`` (programs given a log level by :func:`set_log_level`) returns each
    program's verifier log by program name; otherwise an empty dict.
    """
    logs: list[str] = []
    _log_local.verifier = logs if verifier_logs else None
    try:
        rc, log = capture_log(lambda: _obj_load(obj))
    finally:
        _log_local.verifier = None
    if rc < 0:
        err = -rc
        hint = ""
        if err == _errno.EPERM:
            hint = " (operation not permitted: needs root with CAP_BPF/CAP_SYS_ADMIN, or lockdown refused it)"
        raise BpfLoadError(f"loading BPF object {what} failed: {errmsg(err)}{hint}", err, log)
    out: dict[str, str] = {}
    for text in logs:
        # "libbpf: prog 'NAME': -- BEGIN PROG LOAD LOG --\n<log>-- END PROG LOAD LOG --\n"
        head, _, body = text.partition("\n")
        name = head.split("'")[1] if head.count("'") >= 2 else "?"
        out[name] = body.removesuffix("-- END PROG LOAD LOG --\n")
    return out


def set_log_level(prog: int, level: int) -> None:
    """Ask the verifier for its log of ``prog`` (kernel BPF_LOG_* bits), printed after the load."""
    rc = _prog_set_log_level(prog, level)
    if rc < 0:
        raise BpfError(f"set_log_level({program_name(prog)}) failed: {errmsg(-rc)}", -rc)


def close_object(obj: int) -> None:
    """Free an object, its programs and the map fds it owns (links are separate)."""
    _obj_close(obj)


def object_name(obj: int) -> str:
    return (_obj_name(obj) or b"").decode()


def programs(obj: int) -> list[int]:
    """Every ``struct bpf_program *`` of an object, in ELF order."""
    out: list[int] = []
    p = _next_program(obj, None)
    while p:
        out.append(int(p))
        p = _next_program(obj, p)
    return out


def maps(obj: int) -> list[int]:
    """Every ``struct bpf_map *`` of an object."""
    out: list[int] = []
    m = _next_map(obj, None)
    while m:
        out.append(int(m))
        m = _next_map(obj, m)
    return out


def program_name(prog: int) -> str:
    return (_prog_name(prog) or b"").decode()


def program_section(prog: int) -> str:
    return (_prog_section(prog) or b"").decode()


def program_fd(prog: int) -> int:
    return int(_prog_fd(prog))


def set_autoload(prog: int, autoload: bool) -> None:
    rc = _prog_set_autoload(prog, autoload)
    if rc < 0:
        raise BpfError(f"set_autoload({program_name(prog)}) failed: {errmsg(-rc)}", -rc)


def _attached(link: int | None, what: str) -> int:
    if not link:
        err = _last_errno()
        raise BpfAttachError(f"attaching {what} failed: {errmsg(err)}", err)
    return int(link)


def attach(prog: int) -> int:
    """Attach by the program's section name (tp_btf/, raw_tp/, tracepoint/ …); returns the link."""
    what = f"{program_name(prog)} ({program_section(prog)})"
    link, log = capture_log(lambda: _prog_attach(prog))
    if not link:
        err = _last_errno()
        raise BpfAttachError(f"attaching {what} failed: {errmsg(err)}", err, log)
    return int(link)


def attach_tracepoint(prog: int, category: str, name: str) -> int:
    """Attach to tracepoint ``category/name``."""
    return _attached(_prog_attach_tp(prog, category.encode(), name.encode()), f"tracepoint {category}/{name}")


def attach_raw_tracepoint(prog: int, name: str) -> int:
    """Attach to raw tracepoint ``name``."""
    return _attached(_prog_attach_raw_tp(prog, name.encode()), f"raw tracepoint {name}")


def set_attach_target(prog: int, func: str) -> None:
    """Name the kernel function a BTF-attached program (fentry, fmod_ret, LSM) hooks, before load."""
    rc = _prog_set_attach_target(prog, 0, func.encode())
    if rc < 0:
        raise BpfLoadError(f"{program_name(prog)}: no attach target {func!r}: {errmsg(-rc)}", -rc)


def attach_kprobe(prog: int, retprobe: bool, func: str) -> int:
    """Attach a kprobe (or kretprobe) on kernel function ``func``."""
    kind = "kretprobe" if retprobe else "kprobe"
    return _attached(_prog_attach_kprobe(prog, retprobe, func.encode()), f"{kind} {func}")


def attach_uprobe(
    prog: int, retprobe: bool, pid: int, binary: str, offset: int, ref_ctr_offset: int = 0
) -> int:
    """Attach a uprobe (or uretprobe) at file offset ``offset`` of ``binary``; pid -1 means every
    process. ``ref_ctr_offset`` names a USDT semaphore the kernel raises while it is attached."""
    what = f"{'uretprobe' if retprobe else 'uprobe'} {binary}+{offset:#x}"
    if not ref_ctr_offset:
        return _attached(_prog_attach_uprobe(prog, retprobe, pid, os.fsencode(binary), offset), what)
    opts = _UprobeOpts(sz=ctypes.sizeof(_UprobeOpts), ref_ctr_offset=ref_ctr_offset, retprobe=retprobe)
    link = _prog_attach_uprobe_opts(prog, pid, os.fsencode(binary), offset, ctypes.byref(opts))
    return _attached(link, f"{what} (semaphore at {ref_ctr_offset:#x})")


def destroy_link(link: int) -> None:
    """Detach and free a link (an unpinned link stops the program at once)."""
    _link_destroy(link)


def pin_link(link: int, path: str) -> None:
    rc = _link_pin(link, os.fsencode(path))
    if rc < 0:
        raise BpfError(f"pinning link at {path} failed: {errmsg(-rc)}", -rc)


def unpin_link(link: int) -> None:
    _link_unpin(link)


# --- maps --------------------------------------------------------------------------------------


def map_name(m: int) -> str:
    return (_map_name(m) or b"").decode()


def map_fd(m: int) -> int:
    return int(_map_fd(m))


def map_geometry(m: int) -> tuple[int, int, int, int]:
    """(type, key size, value size, max entries) of an object's map."""
    return int(_map_type(m)), int(_map_key_size(m)), int(_map_value_size(m)), int(_map_max_entries(m))


def reuse_map_fd(m: int, fd: int) -> None:
    """Make an object's map use an existing map instead of creating its own."""
    rc = _map_reuse_fd(m, fd)
    if rc < 0:
        raise BpfMapError(f"reusing map fd for {map_name(m)} failed: {errmsg(-rc)}", -rc)


def set_max_entries(m: int, n: int) -> None:
    rc = _map_set_max_entries(m, n)
    if rc < 0:
        raise BpfMapError(f"set_max_entries({map_name(m)}, {n}) failed: {errmsg(-rc)}", -rc)


def set_map_pin_path(m: int, path: str) -> None:
    rc = _map_set_pin_path(m, os.fsencode(path))
    if rc < 0:
        raise BpfMapError(f"set_pin_path({map_name(m)}) failed: {errmsg(-rc)}", -rc)


def initial_value(m: int) -> tuple[int, int]:
    """(address, size) of a global-data map's initial image, writable before load."""
    size = c_size_t(0)
    ptr = _map_initial_value(m, ctypes.byref(size))
    if not ptr:
        raise BpfMapError(f"map {map_name(m)} has no initial value", _errno.EINVAL)
    return int(ptr), int(size.value)


def set_initial_value(m: int, data: bytes) -> None:
    """Replace a global-data map's initial image before load; ``data`` must be its exact size."""
    _, size = initial_value(m)
    if len(data) != size:
        raise BpfMapError(f"{map_name(m)} holds {size} bytes, not {len(data)}", _errno.EINVAL)
    rc = _map_set_initial_value(m, data, len(data))
    if rc < 0:
        raise BpfMapError(f"set_initial_value({map_name(m)}) failed: {errmsg(-rc)}", -rc)


class _MapCreateOpts(ctypes.Structure):
    # libbpf's struct bpf_map_create_opts (1.0 and later), up to map_ifindex
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("btf_fd", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("inner_map_fd", c_uint32),
        ("map_flags", c_uint32),
        ("map_extra", ctypes.c_uint64),
        ("numa_node", c_uint32),
        ("map_ifindex", c_uint32),
    ]


def map_create(
    map_type: int, name: str, key_size: int, value_size: int, max_entries: int, flags: int = 0
) -> int:
    """Create a map (``flags``: BPF_F_*); returns its fd (the caller owns it)."""
    opts = None
    if flags:
        opts = _MapCreateOpts(sz=ctypes.sizeof(_MapCreateOpts), map_flags=flags)
    fd = _map_create(
        map_type, name.encode()[:15], key_size, value_size, max_entries, ctypes.byref(opts) if opts else None
    )
    if fd < 0:
        raise BpfMapError(f"creating map {name} failed: {errmsg(-fd)}", -fd)
    return int(fd)


def map_lookup(fd: int, key: ctypes.Array[ctypes.c_char] | bytes, value: ctypes.Array[ctypes.c_char]) -> None:
    """Copy the value for ``key`` into ``value``; raises MapKeyNotFound when absent."""
    rc = _map_lookup(fd, key, value)
    if rc < 0:
        if rc == -_errno.ENOENT:
            raise MapKeyNotFound("key not found", _errno.ENOENT)
        raise BpfMapError(f"map lookup failed: {errmsg(-rc)}", -rc)


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    rc = _map_update(fd, key, value, flags)
    if rc < 0:
        raise BpfMapError(f"map update failed: {errmsg(-rc)}", -rc)


def map_delete(fd: int, key: bytes) -> None:
    rc = _map_delete(fd, key)
    if rc < 0:
        if rc == -_errno.ENOENT:
            raise MapKeyNotFound("key not found", _errno.ENOENT)
        raise BpfMapError(f"map delete failed: {errmsg(-rc)}", -rc)


def map_next_key(fd: int, key: bytes | None, next_key: ctypes.Array[ctypes.c_char]) -> bool:
    """Fill ``next_key`` with the key after ``key`` (the first when None); False at the end."""
    rc = _map_next_key(fd, key, next_key)
    if rc < 0:
        if rc == -_errno.ENOENT:
            return False
        raise BpfMapError(f"map get_next_key failed: {errmsg(-rc)}", -rc)
    return True


def obj_pin(fd: int, path: str) -> None:
    rc = _obj_pin(fd, os.fsencode(path))
    if rc < 0:
        raise BpfError(f"pinning at {path} failed: {errmsg(-rc)}", -rc)


def obj_get(path: str) -> int:
    fd = _obj_get(os.fsencode(path))
    if fd < 0:
        raise BpfError(f"opening pinned object {path} failed: {errmsg(-fd)}", -fd)
    return int(fd)


def probe_prog_type(prog_type: int) -> bool:
    return bool(_probe_prog_type(prog_type, None) == 1)


def probe_map_type(map_type: int) -> bool:
    return bool(_probe_map_type(map_type, None) == 1)


def probe_helper(prog_type: int, helper_id: int) -> bool:
    return bool(_probe_helper(prog_type, helper_id, None) == 1)


def prog_test_run(prog_fd: int, ctx: bytes) -> int:
    """Run a program once with ``ctx`` as its context (BPF_PROG_TEST_RUN); returns its retval."""
    buf = ctypes.create_string_buffer(ctx, len(ctx))
    opts = _TestRunOpts(
        sz=ctypes.sizeof(_TestRunOpts), ctx_in=ctypes.cast(buf, c_void_p), ctx_size_in=len(ctx)
    )
    rc = _prog_test_run(prog_fd, ctypes.byref(opts))
    if rc < 0:
        raise BpfError(f"BPF_PROG_TEST_RUN failed: {errmsg(-rc)}", -rc)
    return int(opts.retval)


def num_possible_cpus() -> int:
    n = _num_possible_cpus()
    if n < 0:
        raise BpfError(f"cannot read possible CPUs: {errmsg(-n)}", -n)
    return int(n)


_prog_get_info = _fn("bpf_obj_get_info_by_fd", c_int, c_int, c_void_p, ctypes.POINTER(ctypes.c_uint32))
# struct bpf_prog_info (232 bytes on 6.x): the run statistics sit at bytes 192..216
_PROG_INFO_SIZE = 232
_PROG_STATS = struct.Struct("<QQQ")  # run_time_ns, run_cnt, recursion_misses
_PROG_STATS_OFF = 192


def prog_stats(prog_fd: int) -> tuple[int, int, int]:
    """(run_time_ns, run_cnt, recursion_misses) of a loaded program (BPF_OBJ_GET_INFO_BY_FD).

    The kernel counts runs and time only while BPF statistics are enabled (the
    ``kernel.bpf_stats_enabled`` sysctl, or a BPF_ENABLE_STATS descriptor held open); missed
    runs (recursion) are always counted. A kernel whose struct is shorter returns zeros."""
    buf = ctypes.create_string_buffer(_PROG_INFO_SIZE)
    n = ctypes.c_uint32(_PROG_INFO_SIZE)
    rc = _prog_get_info(prog_fd, ctypes.cast(buf, c_void_p), ctypes.byref(n))
    if rc < 0:
        raise BpfError(f"BPF_OBJ_GET_INFO_BY_FD failed: {errmsg(-rc)}", -rc)
    if n.value < _PROG_STATS_OFF + _PROG_STATS.size:
        return (0, 0, 0)
    run_ns, count, misses = _PROG_STATS.unpack_from(buf.raw, _PROG_STATS_OFF)
    return int(run_ns), int(count), int(misses)
