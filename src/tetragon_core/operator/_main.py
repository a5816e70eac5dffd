"""``tetragon-operator serve``: create or update the CRDs, then keep PodInfo resources (with
``--enable-pod-info``), with /healthz, /readyz and /metrics, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any, Final

import anyio
from lightkube import KubeConfig

from tetragon_core.exceptions import ConfigError, KubernetesError
from tetragon_core.k8s._client import kube_config, make_client
from tetragon_core.metrics import Registry
from tetragon_core.metrics_server import parse_address, serve_metrics
from tetragon_core.operator._config import OperatorConfig, parse_operator_args
from tetragon_core.operator._crds import PODINFO_CRD, TRACING_POLICY_CRDS, ensure_crds, wait_established
from tetragon_core.operator._podinfo import PodInfoController

__all__ = ["crds_to_create", "main", "serve"]

log = logging.getLogger("tetragon_core.operator")

RETRY_S: Final = 5.0


def crds_to_create(cfg: OperatorConfig) -> list[str]:
    """The CRDs ``cfg`` asks the operator to create or update."""
    if cfg.skip_crd_creation:
        return []
    names: list[str] = []
    if not cfg.skip_tracing_policy_crd:
        names.extend(TRACING_POLICY_CRDS)
    if not cfg.skip_pod_info_crd:
        names.append(PODINFO_CRD)
    return names


def _disabled(addr: str) -> bool:
    return addr in ("", "0")


async def _serve_health(addr: str, ready: anyio.Event) -> Any:
    import aiohttp.web

    async def healthz(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="ok")

    async def readyz(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(
            text="ok" if ready.is_set() else "not ready", status=200 if ready.is_set() else 503
        )

    app = aiohttp.web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = parse_address(addr, "--health-probe-bind-address")
    try:
        await aiohttp.web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        raise ConfigError(f"--health-probe-bind-address: cannot listen on {addr}: {e.strerror}") from e
    return runner


async def _until_done(what: str, fn: Any) -> Any:
    """Run ``fn`` until it succeeds: the API server may not be reachable yet."""
    while True:
        try:
            return await fn()
        except KubernetesError as e:
            log.warning("%s: %s (retrying in %.0f s)", what, e, RETRY_S)
            await anyio.sleep(RETRY_S)


def _kube(cfg: OperatorConfig) -> KubeConfig:
    return kube_config(cfg.kube_config, "--kube-config", "tetragon-operator")


async def serve(
    cfg: OperatorConfig, ready: anyio.Event | None = None, kube: KubeConfig | None = None
) -> None:
    """Run the operator until cancelled; ``ready`` is set once the CRDs are in place and the
    PodInfo controller (if enabled) has listed the pods."""
    ready = ready or anyio.Event()
    client = make_client(kube or _kube(cfg))
    registry = Registry()
    closers: list[Any] = []
    try:
        if not _disabled(cfg.health_probe_bind_address):
            runner = await _serve_health(cfg.health_probe_bind_address, ready)
            closers.append(runner.cleanup)
        if not _disabled(cfg.metrics_bind_address):
            svc = await serve_metrics(registry, cfg.metrics_bind_address, "--metrics-bind-address")
            closers.append(svc.stop)
        names = crds_to_create(cfg)
        if names:
            done = await _until_done("CRDs", lambda: ensure_crds(client, names, cfg.force_update_crds))
            log.info("CRDs in place: %s", ", ".join(f"{n} {a}" for n, a in done.items()))
        if not cfg.enable_pod_info:
            ready.set()
            await anyio.sleep_forever()
        await _until_done("PodInfo CRD", lambda: wait_established(client, PODINFO_CRD))
        await PodInfoController(client, registry).run(ready.set)
    finally:
        for close in reversed(closers):
            await close()
        await client.close()


async def _run(cfg: OperatorConfig, kube: KubeConfig) -> None:
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for sig in signals:
                    log.info("%s: stopping", signal.Signals(sig).name)
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(stop_on_signal)
        await serve(cfg, kube=kube)


def main(argv: list[str] | None = None) -> int:
    """The ``tetragon-operator`` command."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = parse_operator_args(sys.argv[1:] if argv is None else argv)
        anyio.run(_run, cfg, _kube(cfg))
    except ConfigError as e:
        print(f"tetragon-operator: {e}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:
        # a listen address refused inside the task group
        bad, _ = group.split(ConfigError)
        if bad is None:
            raise
        for refused in bad.exceptions:
            print(f"tetragon-operator: {refused}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
