"""The Kubernetes API client: lightkube (docs/decisions.md has the measurements behind the choice),
configured from ``--k8s-kubeconfig-path`` or the pod's service account.

Pods are decoded straight into :class:`~tetragon_core.k8s._pods.K8sPod` (lightkube 1.0 decodes
msgspec Structs from the response bytes), never into lightkube's full models. Watches ask for
bookmarks (``allowWatchBookmarks``), which lightkube's public ``watch()`` cannot; that one call
goes through its request builder here, and lightkube is pinned to the minor version it was
written against (a unit test drives it against the test API server).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx2
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError, ConfigError as LightkubeConfigError
from lightkube.resources.core_v1 import Pod
from lightkube.types import on_error_raise

from tetragon_core.exceptions import ConfigError, KubernetesError
from tetragon_core.k8s._pods import K8sPod

__all__ = [
    "KUBECONFIG_FLAG",
    "WATCH_TIMEOUT_S",
    "ResourceExpired",
    "http_status",
    "kube_config",
    "list_pods",
    "make_client",
    "watch_pods",
]

KUBECONFIG_FLAG: Final = "--k8s-kubeconfig-path"
#: the server closes each watch after this long; it is then reopened from the last version
WATCH_TIMEOUT_S: Final = 300
_LIST_CHUNK: Final = 500


class ResourceExpired(KubernetesError):
    """The watch's resourceVersion is too old (410 Gone): list again."""


def kube_config(path: str) -> KubeConfig:
    """The client configuration: the kubeconfig at ``path``, else the in-cluster service account."""
    try:
        if path:
            if not os.path.isabs(path):
                raise ConfigError(f"{KUBECONFIG_FLAG}: {path} is not an absolute path")
            if not os.path.isfile(path):
                raise ConfigError(f"{KUBECONFIG_FLAG}: {path} does not exist")
            return KubeConfig.from_file(path)
        return KubeConfig.from_service_account()
    except ConfigError:
        raise
    except (LightkubeConfigError, OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as e:
        where = path or "the in-cluster service account (/var/run/secrets/kubernetes.io/serviceaccount)"
        raise ConfigError(f"{KUBECONFIG_FLAG}: cannot use {where}: {e}") from e


def make_client(config: KubeConfig) -> AsyncClient:
    """An async client whose watches are reopened by the caller (never retried inside lightkube)."""
    return AsyncClient(config=config, timeout=httpx2.Timeout(30.0, read=WATCH_TIMEOUT_S + 30.0))


def http_status(e: BaseException) -> int:
    """The HTTP status (or the API Status code) of a failed request; 0 for a transport error."""
    if isinstance(e, ApiError) and e.status is not None and e.status.code:
        return int(e.status.code)
    if isinstance(e, httpx2.HTTPStatusError):
        return e.response.status_code
    return 0


def translate(e: BaseException, what: str) -> KubernetesError:
    """Our exception for a failed request (lightkube's and httpx's errors stop here)."""
    code = http_status(e)
    if code == 410:
        return ResourceExpired(f"{what}: resource version too old (410 Gone)")
    reason = str(e) or type(e).__name__
    prefix = f"HTTP {code}: " if code else ""
    return KubernetesError(f"{what}: {prefix}{reason}")


def _node_selector(node: str) -> str:
    return f"spec.nodeName={node}"


async def list_pods(client: AsyncClient, node: str) -> tuple[list[K8sPod], str]:
    """Every pod of ``node`` and the list's resourceVersion (where the watch starts)."""
    br = client._client.prepare_request(
        "list",
        res=Pod,
        namespace="*",
        params={"limit": _LIST_CHUNK, "fieldSelector": _node_selector(node)},
    )
    br.response_type = K8sPod  # type: ignore[assignment]  # lightkube 1.0 decodes Structs
    try:
        it = client._client.list(br)
        pods = [p async for p in it]
        return pods, str(it.resourceVersion or "")
    except (httpx2.HTTPError, OSError) as e:
        raise translate(e, f"list pods of node {node}") from e


async def watch_pods(
    client: AsyncClient, node: str, resource_version: str, timeout_s: int = WATCH_TIMEOUT_S
) -> AsyncIterator[tuple[str, K8sPod]]:
    """``(type, pod)`` from ``resource_version`` on: ADDED, MODIFIED, DELETED and BOOKMARK
    (whose pod carries only the new resourceVersion). Raises :class:`ResourceExpired` on 410
    and :class:`KubernetesError` on any other failure; reopened after each server timeout."""
    br = client._client.prepare_request(
        "list",
        res=Pod,
        namespace="*",
        watch=True,
        params={
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_s,
            "fieldSelector": _node_selector(node),
        },
    )
    br.response_type = K8sPod  # type: ignore[assignment]  # lightkube 1.0 decodes Structs
    stream: Any = client._client.watch(br, on_error=on_error_raise)
    try:
        async for kind, pod in stream:
            yield kind, pod
    except (httpx2.HTTPError, OSError) as e:
        raise translate(e, f"watch pods of node {node}") from e
    finally:
        await stream.aclose()
