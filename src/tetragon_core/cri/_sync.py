"""``--enable-cri``: keep the container registry in step with what the runtime's CRI says, so that
processes in containers get ``process.pod`` (and the policy filter their cgroups) without runtime
hooks or the Kubernetes API.

CRI v1 has no container event stream every runtime implements (containerd 1.6 lacks it), so the
runtime is polled: every :data:`POLL_INTERVAL_S` the container list is read, and each container
not seen before is asked for its verbose status (pid, OCI cgroup path) once, and once more when a
container recorded as created is listed running (its pid is known then). Sandboxes give each
container its pod (name, namespace, uid, labels; kubelet's own ``io.kubernetes.*`` labels
dropped). An event of a container not known yet waits in the event cache meanwhile
(``entry_type="pod_info"``), as upstream's events wait for the pod.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import anyio

from tetragon_core.cri._client import ContainerRecord, CriClient, SandboxRecord
from tetragon_core.exceptions import CriError
from tetragon_core.export.timefmt import rfc3339_nanos
from tetragon_core.metrics import Registry
from tetragon_core.process.containers import ContainerError, ContainerRegistry

__all__ = ["POLL_INTERVAL_S", "CriSync"]

log = logging.getLogger(__name__)

POLL_INTERVAL_S: Final = 1.0
# forget a container id that failed this many status calls in a row (gone between list and status)
_MAX_STATUS_FAILURES: Final = 3


class CriSync:
    """Polls one CRI endpoint into a :class:`ContainerRegistry`.

    :meth:`run` is the polling loop (until cancelled); :meth:`poll` is one round. What each poll
    learnt is in :attr:`containers` (by bare container id), with what the registry does not keep
    (the container's pid, its CRI state).
    """

    def __init__(
        self,
        client: CriClient,
        registry: ContainerRegistry,
        metrics: Registry | None = None,
        on_change: Callable[[], None] | None = None,
        interval: float = POLL_INTERVAL_S,
    ) -> None:
        """``on_change`` runs after a poll recorded new containers (the event cache retries then);
        ``interval`` is the time between two polls of :meth:`run`, in seconds."""
        self.client = client
        self.registry = registry
        self.interval = interval
        self._on_change = on_change
        #: every container of the last poll that was recorded, by its bare id
        self.containers: dict[str, ContainerRecord] = {}
        self._pods: dict[str, SandboxRecord | None] = {}
        # containers not to ask about again: recorded once started (or exited), or given up on
        self._done: set[str] = set()
        self._failures: dict[str, int] = {}
        self._prefix = ""
        #: the runtime's "name version (CRI api)", once :meth:`connect` succeeded
        self.runtime = ""
        reg = metrics if metrics is not None else Registry()
        self._errors = reg.counter("tetragon_cri_errors_total", "CRI calls that failed, by call.", ("call",))
        self._recorded = reg.counter(
            "tetragon_cri_containers_total", "Containers learnt from the CRI endpoint."
        )

    def errors(self, call: str) -> int:
        """How many ``call`` calls (``"ContainerStatus"``…) failed so far."""
        return int(self._errors.get(call))

    async def connect(self) -> None:
        """Ask the runtime its name (``containerd`` gives container ids a ``containerd://``
        prefix, as Kubernetes writes them); raises :class:`CriError` if it does not answer."""
        try:
            name, version, api = await self.client.version()
        except CriError:
            self._errors.inc("Version")
            raise
        self.runtime = f"{name} {version} (CRI {api})"
        self._prefix = f"{name}://" if name else ""
        log.info("CRI endpoint %s: %s", self.client.endpoint, self.runtime)

    async def poll(self) -> int:
        """One round: record every container not recorded before (a created one again until it
        runs, when its pid is known); returns how many were recorded. A failed list call raises
        :class:`CriError`; a failed status call is counted, and retried next round up to
        :data:`_MAX_STATUS_FAILURES` times."""
        try:
            ids = await self.client.container_ids()
        except CriError:
            self._errors.inc("ListContainers")
            raise
        live = {cid for cid, _, _ in ids}
        self._done &= live
        self._failures = {cid: n for cid, n in self._failures.items() if cid in live}
        self.containers = {cid: c for cid, c in self.containers.items() if cid in live}
        self._pods = {cid: pod for cid, pod in self._pods.items() if cid in live}
        # a container still created as it was when recorded has nothing new to say
        new = [
            (cid, sid)
            for cid, sid, state in ids
            if cid not in self._done
            and not (state == "CONTAINER_CREATED" and cid in self.containers and cid not in self._failures)
        ]
        if not new:
            return 0
        try:
            pods = {s.id: s for s in await self.client.sandboxes()}
        except CriError:
            self._errors.inc("ListPodSandbox")
            raise
        recorded = learnt = 0
        for cid, sid in new:
            try:
                record = await self.client.container(cid, sid)
            except CriError as e:
                self._errors.inc("ContainerStatus")
                self._failed(cid, e)
                continue
            pod = pods.get(record.sandbox_id)
            if cid not in self.containers or (record, pod) != (self.containers[cid], self._pods[cid]):
                try:
                    self._record(record, pod)
                except ContainerError as e:
                    log.warning("CRI: container %s not recorded: %s", cid, e)
                    self._done.add(cid)
                    continue
                if cid not in self.containers:
                    learnt += 1
                self.containers[cid], self._pods[cid] = record, pod
                recorded += 1
            if pod is None:
                # the sandbox list was read before this container's sandbox appeared (or it is
                # gone): what the annotations said is recorded; ask again next round
                self._failed(cid, CriError(f"CRI: no pod sandbox {record.sandbox_id!r}"))
            elif record.state != "CONTAINER_CREATED":
                self._done.add(cid)
                self._failures.pop(cid, None)
        if learnt:
            self._recorded.inc(by=learnt)
        if recorded:
            if self._on_change is not None:
                self._on_change()
        return recorded

    def _failed(self, cid: str, e: CriError) -> None:
        failures = self._failures.get(cid, 0) + 1
        self._failures[cid] = failures
        if failures >= _MAX_STATUS_FAILURES:
            log.warning("CRI: giving up on container %s: %s", cid, e)
            self._done.add(cid)
            del self._failures[cid]

    def _record(self, c: ContainerRecord, pod: SandboxRecord | None) -> None:
        self.registry.record(
            container_id=self._prefix + c.id,
            cgroups_path=c.cgroups_path,
            container_name=c.name,
            pod_name=pod.name if pod else "",
            pod_namespace=pod.namespace if pod else "",
            pod_uid=pod.uid if pod else "",
            pod_labels=_pod_labels(pod.labels) if pod else {},
            image=c.image,
            image_id=c.image_ref,
            start_time=rfc3339_nanos(c.started_at_ns) if c.started_at_ns > 0 else "",
            annotations=c.annotations,
        )

    async def run(self) -> None:
        """Poll every :attr:`interval` seconds until cancelled. A runtime that does not answer is
        logged once per outage and polled again; nothing here raises but cancellation, which
        closes the client's connection."""
        down = False
        try:
            while True:
                try:
                    if not self.runtime:
                        await self.connect()
                    await self.poll()
                    if down:
                        log.info("CRI endpoint %s answers again", self.client.endpoint)
                    down = False
                except CriError as e:
                    if not down:
                        log.warning("%s; retrying every %g s", e, self.interval)
                    down = True
                await anyio.sleep(self.interval)
        finally:
            self.client.close()


def _pod_labels(labels: dict[str, str]) -> dict[str, str]:
    # kubelet adds its own io.kubernetes.pod.* labels to the sandbox's; the pod's are the rest
    return {k: v for k, v in labels.items() if not k.startswith("io.kubernetes.")}
