"""BPF objects, their programs and links, and the maps shared between objects by name."""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from tetragon_core.bpf import _libbpf as lb
from tetragon_core.bpf.maps import Map
from tetragon_core.exceptions import BpfAttachError, BpfLoadError

log = logging.getLogger(__name__)

_BPF_LOG_STATS = 4  # the verifier's statistics (insns processed, states, time) after its log


class SharedMaps:
    """Maps that every object reuses by name (the core's ring buffer, execve_map …).

    An object loaded after a map is registered here gets the same kernel map instead of its own.
    """

    def __init__(self) -> None:
        self._maps: dict[str, Map] = {}

    def register(self, m: Map) -> None:
        """Share ``m`` with every object loaded from now on."""
        self._maps[m.name] = m

    def get(self, name: str) -> Map | None:
        return self._maps.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._maps

    def __iter__(self) -> Iterator[Map]:
        return iter(list(self._maps.values()))


@dataclass
class Link:
    """An attached program; ``destroy`` detaches it."""

    program: str
    section: str
    ptr: int
    pinned: str = ""
    #: the program's ELF section and fd, kept so that statistics never touch libbpf's object
    #: (a scrape in a worker thread may read them while another thread closes it)
    prog_section: str = ""
    prog_fd: int = -1

    def destroy(self) -> None:
        if self.ptr:
            lb.destroy_link(self.ptr)
            self.ptr = 0


@dataclass
class BpfObject:
    """One loaded ELF object. Build with :meth:`load`; ``close`` detaches and frees everything."""

    path: str
    ptr: int
    maps: dict[str, Map] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    #: each program's verifier log, when the load asked for them (``verifier_log_level``)
    verifier_logs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        path: str,
        shared: SharedMaps,
        *,
        autoload: set[str] | None = None,
        max_entries: dict[str, int] | None = None,
        rodata: dict[str, bytes] | None = None,
        targets: dict[str, str] | None = None,
        verifier_log_level: int = 0,
    ) -> BpfObject:
        """Open ``path``, reuse every map named in ``shared``, and load it into the kernel.

        ``autoload`` restricts which programs are loaded (by function name); ``max_entries``
        resizes this object's own maps before creation; ``rodata`` gives the contents of
        read-only data sections (``.rodata.<name>`` → bytes of exactly the section's size), which
        the verifier then knows as constants; ``targets`` names the kernel function of a
        BTF-attached program (program → function, e.g. an LSM hook) in place of its section's.
        ``verifier_log_level`` (``--verbose``) 1 or 2 keeps each program's verifier log in
        :attr:`verifier_logs`: the kernel's log level 1 or 2, with its statistics.
        """
        if not os.path.exists(path):
            raise BpfLoadError(f"BPF object {path} does not exist (was `make` run?)")
        ptr = lb.open_object(path)
        try:
            for m in lb.maps(ptr):
                name = lb.map_name(m)
                sm = shared.get(name)
                if sm is not None:
                    lb.reuse_map_fd(m, sm.fd)
                elif max_entries and name in max_entries:
                    lb.set_max_entries(m, max_entries[name])
                elif rodata and name in rodata:
                    lb.set_initial_value(m, rodata[name])
            missing = set(rodata or ()) - {lb.map_name(m) for m in lb.maps(ptr)}
            if missing:
                raise BpfLoadError(f"{path} has no section {', '.join(sorted(missing))}")
            if autoload is not None:
                for p in lb.programs(ptr):
                    lb.set_autoload(p, lb.program_name(p) in autoload)
            for p in lb.programs(ptr):
                if targets and lb.program_name(p) in targets:
                    lb.set_attach_target(p, targets[lb.program_name(p)])
                if verifier_log_level:
                    lb.set_log_level(p, verifier_log_level | _BPF_LOG_STATS)
            logs = lb.load_object(ptr, os.path.basename(path), verifier_logs=bool(verifier_log_level))
        except BaseException:
            lb.close_object(ptr)
            raise
        obj = cls(path, ptr, verifier_logs=logs)
        for m in lb.maps(ptr):
            name = lb.map_name(m)
            if name.startswith((".rodata", ".data", ".bss", ".kconfig")):
                continue
            sm = shared.get(name)
            if sm is not None:
                obj.maps[name] = sm
            else:
                mtype, ks, vs, me = lb.map_geometry(m)
                obj.maps[name] = Map(name, lb.map_fd(m), mtype, ks, vs, me, owned=False)
        return obj

    def program_names(self) -> list[str]:
        return [lb.program_name(p) for p in lb.programs(self.ptr)]

    def attach(self, program: str | None = None) -> list[Link]:
        """Attach ``program`` (or every loaded program) by its section; returns the new links."""
        new: list[Link] = []
        for p in lb.programs(self.ptr):
            name = lb.program_name(p)
            if program is not None and name != program:
                continue
            if lb.program_fd(p) < 0:
                continue  # not loaded (autoload off)
            link = _link(name, lb.program_section(p), p, lb.attach(p))
            new.append(link)
            self.links.append(link)  # at once: a later failure must not leak this one
        if program is not None and not new:
            raise BpfAttachError(f"{os.path.basename(self.path)} has no loaded program {program}")
        return new

    def attach_tracepoint(self, program: str, category: str, event: str) -> Link:
        """Attach ``program`` to the tracepoint ``category/event``."""
        p = self._program(program)
        link = _link(program, f"tracepoint/{category}/{event}", p, lb.attach_tracepoint(p, category, event))
        self.links.append(link)
        return link

    def attach_kprobe(self, program: str, func: str, *, retprobe: bool = False) -> Link:
        """Attach ``program`` as a kprobe (or kretprobe) on kernel function ``func``."""
        p = self._program(program)
        kind = "kretprobe" if retprobe else "kprobe"
        link = _link(program, f"{kind}/{func}", p, lb.attach_kprobe(p, retprobe, func))
        self.links.append(link)
        return link

    def attach_uprobe(
        self, program: str, binary: str, offset: int, *, retprobe: bool = False, ref_ctr_offset: int = 0
    ) -> Link:
        """Attach ``program`` as a uprobe (or uretprobe) at file ``offset`` of ``binary``, in every
        process; ``ref_ctr_offset`` is a semaphore the kernel raises while attached (USDT)."""
        p = self._program(program)
        kind = "uretprobe" if retprobe else "uprobe"
        ptr = lb.attach_uprobe(p, retprobe, -1, binary, offset, ref_ctr_offset)
        link = _link(program, f"{kind}/{binary}:{offset:#x}", p, ptr)
        self.links.append(link)
        return link

    def attach_raw_tracepoint(self, program: str, event: str) -> Link:
        """Attach ``program`` to the raw tracepoint ``event``."""
        p = self._program(program)
        link = _link(program, f"raw_tp/{event}", p, lb.attach_raw_tracepoint(p, event))
        self.links.append(link)
        return link

    def _program(self, name: str) -> int:
        for p in lb.programs(self.ptr):
            if lb.program_name(p) == name:
                return p
        raise BpfAttachError(f"{os.path.basename(self.path)} has no program {name}")

    def program_fd(self, name: str) -> int:
        return lb.program_fd(self._program(name))

    def attached(self) -> list[tuple[str, str, str, int]]:
        """(program, attach point, ELF section, program fd) of every attached program; the attach
        point is the link's target without its kind (``syscalls/sys_enter_openat``)."""
        return [
            (link.program, link.section.partition("/")[2], link.prog_section, link.prog_fd)
            for link in list(self.links)
        ]

    def pin_links(self, directory: str) -> None:
        """Pin every link under ``directory`` so the programs outlive the agent."""
        os.makedirs(directory, exist_ok=True)
        for link in self.links:
            path = os.path.join(directory, f"{link.program}_link")
            if os.path.exists(path):
                os.unlink(path)
            lb.pin_link(link.ptr, path)
            link.pinned = path

    def detach(self) -> None:
        """Detach every link; pinned links are unpinned first."""
        for link in self.links:
            if link.pinned:
                lb.unpin_link(link.ptr)
                link.pinned = ""
            link.destroy()
        self.links.clear()

    def close(self, *, keep_links: bool = False) -> None:
        """Free the object. With ``keep_links`` the (pinned) programs stay attached."""
        if not keep_links:
            self.detach()
        else:
            # Dropping our reference leaves pinned links in the kernel.
            for link in self.links:
                if link.ptr and not link.pinned:
                    link.destroy()
            self.links.clear()
        if self.ptr:
            lb.close_object(self.ptr)
            self.ptr = 0


def _link(program: str, target: str, prog: int, ptr: int) -> Link:
    return Link(program, target, ptr, "", lb.program_section(prog), lb.program_fd(prog))


def ctypes_buffer(size: int) -> ctypes.Array[ctypes.c_char]:
    """A zeroed buffer for map keys and values."""
    return ctypes.create_string_buffer(size)
