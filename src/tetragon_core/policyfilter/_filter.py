"""``--enable-policy-filter``: the kernel's table of which cgroups each scoped policy acts in.

Two maps, created by the core and shared by every hook object (bpf/lib/generic_run.h):

* ``tg_polfilter``: key ``{u32 policy, u32 pad, u64 cgroup id}``, present when the policy acts on
  the processes of that cgroup; ``{policy, 0}`` when it acts on host processes too;
* ``tg_podcgroups``: every known container's cgroup ids, so that the kernel tells a host process
  (in none of them) from a container's.

Each hook of a scoped policy checks them before its selectors; a process that is not allowed
costs one or two hash lookups and is counted (``policy_filtered`` in the hook's statistics).
Nothing is allowed that the table does not list: a container whose pod or cgroup is not known yet
is treated as a host process (as upstream, the window between a container's start and its pod
reaching the agent is not covered).

The desired table is recomputed from the policies and pods on every change and applied as a diff.
Pod changes arrive on the event loop and only mark the table stale; :meth:`PolicyFilter.run`
applies them in a worker thread (finding a new container's cgroup walks the cgroup hierarchy).
Policy changes apply at once, in the registry's worker thread, before the policy's programs are
attached.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Iterable
from typing import Final, Protocol

import anyio

from tetragon_core.exceptions import MapKeyNotFound, TetragonError
from tetragon_core.metrics import Registry
from tetragon_core.policyfilter._cgroups import CgroupFinder
from tetragon_core.policyfilter._scope import PodView, Scope

__all__ = [
    "ERR_GENERIC",
    "ERR_NAMESPACE_CONFLICT",
    "OP_ADD",
    "OP_ADD_CONTAINER",
    "OP_DELETE",
    "OP_UPDATE",
    "PODCGROUPS_ENTRIES",
    "POLFILTER_ENTRIES",
    "SUBSYS_PODS",
    "SUBSYS_RTHOOKS",
    "MapLike",
    "PolicyFilter",
]

log = logging.getLogger(__name__)

POLFILTER_ENTRIES: Final = 32768
PODCGROUPS_ENTRIES: Final = 8192
RETRY_S: Final = 1.0  # containers whose cgroup is not found yet are looked for again this often

# tetragon_policyfilter_operations_total's label values (the seed's)
SUBSYS_PODS: Final = "pod-handlers"
SUBSYS_RTHOOKS: Final = "rthooks"
OP_ADD: Final = "add"
OP_UPDATE: Final = "update"
OP_DELETE: Final = "delete"
OP_ADD_CONTAINER: Final = "add-container"
ERR_NONE: Final = ""
ERR_GENERIC: Final = "generic-error"
ERR_NAMESPACE_CONFLICT: Final = "pod-namespace-conflict"

_KEY: Final = struct.Struct("<IIQ")
_CG: Final = struct.Struct("<Q")
_ONE: Final = b"\x01"


class MapLike(Protocol):
    """The two operations the filter needs of a BPF hash map (:class:`tetragon_core.bpf.maps.Map`)."""

    def update(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...


class PolicyFilter:
    """The scoped policies, the pods they may apply to, and the kernel maps that say so."""

    def __init__(
        self,
        polfilter: MapLike,
        podcgroups: MapLike,
        registry: Registry | None = None,
        finder: CgroupFinder | None = None,
        debug: bool = False,
    ) -> None:
        """``debug`` (``--enable-policy-filter-debug``) logs every entry added or removed."""
        self.debug = debug
        self._polfilter = polfilter
        self._podcgroups = podcgroups
        self._finder = finder if finder is not None else CgroupFinder()
        self._lock = threading.RLock()
        self._policies: dict[int, Scope] = {}
        self._pods: dict[tuple[str, str], PodView] = {}  # (subsys, uid)
        self._cgroups: dict[str, list[int]] = {}  # container id → its cgroup ids
        self._applied: set[bytes] = set()
        self._applied_pods: set[bytes] = set()
        self._stale = False
        self._wake: anyio.Event | None = None
        #: containers whose cgroup was not found at the last sync
        self.unresolved = 0
        #: syncs done (the tests wait on it)
        self.syncs = 0
        reg = registry if registry is not None else Registry()
        self._ops = reg.counter(
            "tetragon_policyfilter_operations_total",
            "Number of policy filter operations.",
            ("subsys", "operation", "error"),
        )

    # -- policies (the registry's worker thread) -----------------------------------------------

    def add_policy(self, policy_id: int, scope: Scope) -> None:
        """Let policy ``policy_id`` act where ``scope`` says; the maps hold it on return."""
        with self._lock:
            self._policies[policy_id] = scope
            self.sync()

    def remove_policy(self, policy_id: int) -> None:
        """Forget a policy (deleted, or failed to load): its entries leave the maps."""
        with self._lock:
            if self._policies.pop(policy_id, None) is not None:
                self.sync()

    def policies(self) -> dict[int, Scope]:
        with self._lock:
            return dict(self._policies)

    # -- pods (the event loop) -------------------------------------------------------------------

    def pod_upsert(self, pod: PodView, subsys: str = SUBSYS_PODS) -> None:
        """A pod was added or changed (its containers, labels)."""
        with self._lock:
            old = self._pods.get((subsys, pod.uid))
            if subsys == SUBSYS_RTHOOKS:
                op = OP_ADD_CONTAINER
            else:
                op = OP_ADD if old is None else OP_UPDATE
            if old is not None and old.namespace != pod.namespace:
                self._ops.inc(subsys, op, ERR_NAMESPACE_CONFLICT)
                log.warning(
                    "policy filter: pod %s moved from namespace %s to %s",
                    pod.uid,
                    old.namespace,
                    pod.namespace,
                )
            else:
                self._ops.inc(subsys, op, ERR_NONE)
            self._pods[(subsys, pod.uid)] = pod
            self._mark_stale()

    def pod_delete(self, uid: str, subsys: str = SUBSYS_PODS) -> None:
        with self._lock:
            if self._pods.pop((subsys, uid), None) is not None:
                self._ops.inc(subsys, OP_DELETE, ERR_NONE)
                self._mark_stale()

    def pods_replace(self, pods: Iterable[PodView], subsys: str = SUBSYS_PODS) -> None:
        """A fresh list from ``subsys``: pods not in it are deleted."""
        fresh = {p.uid: p for p in pods}
        with self._lock:
            for key in [k for k in self._pods if k[0] == subsys and k[1] not in fresh]:
                self.pod_delete(key[1], subsys)
            for p in fresh.values():
                old = self._pods.get((subsys, p.uid))
                if old != p:
                    self.pod_upsert(p, subsys)

    def _mark_stale(self) -> None:
        self._stale = True
        if self._wake is not None:
            self._wake.set()

    # -- the kernel maps -------------------------------------------------------------------------

    def sync(self) -> None:
        """Make the maps exactly what the policies and pods ask for (blocking: call it in a thread)."""
        with self._lock:
            self._stale = False
            self._resolve()
            keys: set[bytes] = set()
            pod_cgroups: set[int] = set()
            for pod in self._pods.values():
                for c in pod.containers:
                    ids = self._cgroups.get(c.id, ())
                    pod_cgroups.update(ids)
                    for pid, scope in self._policies.items():
                        if scope.applies(pod, c):
                            keys.update(_KEY.pack(pid, 0, cg) for cg in ids)
            for pid, scope in self._policies.items():
                if scope.host:
                    keys.add(_KEY.pack(pid, 0, 0))
            pods = {_CG.pack(cg) for cg in pod_cgroups}
            # containers are told apart from the host before any policy entry changes
            ok = self._add(self._podcgroups, self._applied_pods, pods)
            ok &= self._add(self._polfilter, self._applied, keys)
            ok &= self._remove(self._polfilter, self._applied, keys)
            ok &= self._remove(self._podcgroups, self._applied_pods, pods)
            if not ok:
                self._ops.inc(SUBSYS_PODS, OP_UPDATE, ERR_GENERIC)
            self.syncs += 1

    def _resolve(self) -> None:
        live = {c.id: c.cgroup_path for pod in self._pods.values() for c in pod.containers}
        for cid in [c for c in self._cgroups if c not in live]:
            del self._cgroups[cid]
        wanted = {cid: hint for cid, hint in live.items() if cid not in self._cgroups}
        if wanted:
            for cid, (_, ids) in self._finder.find_all(wanted).items():
                self._cgroups[cid] = ids
        self.unresolved = sum(1 for cid in live if cid not in self._cgroups)

    def _say(self, what: str, key: bytes) -> None:
        if len(key) == _KEY.size:
            policy, _, cg = _KEY.unpack(key)
            log.info("policy filter: %s policy %d cgroup %s", what, policy, cg or "host")
        else:
            log.info("policy filter: %s container cgroup %d", what, _CG.unpack(key)[0])

    def _add(self, m: MapLike, applied: set[bytes], want: set[bytes]) -> bool:
        ok = True
        for k in want - applied:
            try:
                m.update(k, _ONE)
                applied.add(k)
                if self.debug:
                    self._say("added", k)
            except TetragonError as e:
                log.error("policy filter: adding an entry: %s", e)
                ok = False
        return ok

    def _remove(self, m: MapLike, applied: set[bytes], want: set[bytes]) -> bool:
        ok = True
        for k in applied - want:
            try:
                m.delete(k)
            except MapKeyNotFound:
                pass  # already gone
            except TetragonError as e:
                log.error("policy filter: removing an entry: %s", e)
                ok = False
                continue
            applied.discard(k)
            if self.debug:
                self._say("removed", k)
        return ok

    def entries(self) -> tuple[set[tuple[int, int]], set[int]]:
        """What the maps hold: ``{(policy, cgroup id)}`` (0: host) and the pod cgroup ids."""
        with self._lock:
            return (
                {(p, cg) for p, _, cg in map(_KEY.unpack, self._applied)},
                {_CG.unpack(k)[0] for k in self._applied_pods},
            )

    async def run(self) -> None:
        """Apply pod changes as they come (in a worker thread), and look again for containers
        whose cgroup was not there yet."""
        self._wake = anyio.Event()
        while True:
            if self._stale or self.unresolved:
                await anyio.to_thread.run_sync(self.sync)
            with anyio.move_on_after(RETRY_S if self.unresolved else None):
                await self._wake.wait()
            self._wake = anyio.Event()
