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
from typing import Any, Final, TypeVar

import httpx2
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError, ConfigError as LightkubeConfigError
from lightkube.core.resource import NamespacedResourceG
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
    "list_objects",
    "list_pods",
    "make_client",
    "watch_objects",
    "watch_pods",
]

KUBECONFIG_FLAG: Final = "--k8s-kubeconfig-path"
#: the server closes each watch after this long; it is then reopened from the last version
WATCH_TIMEOUT_S: Final = 300
_LIST_CHUNK: Final = 500
SERVICE_ACCOUNT: Final = "/var/run/secrets/kubernetes.io/serviceaccount"


T = TypeVar("T")


class ResourceExpired(KubernetesError):
    """The watch's resourceVersion is too old (410 Gone): list again."""


def kube_config(path: str, flag: str = KUBECONFIG_FLAG, needed_by: str = "--enable-k8s-api") -> KubeConfig:
    """The client configuration: the kubeconfig at ``path`` (given by ``flag``), else the
    in-cluster service account."""
    try:
        if path:
            if not os.path.isabs(path):
                raise ConfigError(f"{flag}: {path} is not an absolute path")
            if not os.path.isfile(path):
                raise ConfigError(f"{flag}: {path} does not exist")
            return KubeConfig.from_file(path)
        return KubeConfig.from_service_account()
    except ConfigError:
        raise
    except (LightkubeConfigError, OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as e:
        if not path:
            raise ConfigError(
                f"{needed_by}: {flag} is not set and the in-cluster service account "
                f"({SERVICE_ACCOUNT}) cannot be used: {e}"
            ) from e
        raise ConfigError(f"{flag}: cannot use {path}: {e}") from e


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


async def list_objects(
    client: AsyncClient, res: Any, struct: type[T], fields: str = "", what: str = ""
) -> tuple[list[T], str]:
    """Every object of resource ``res`` (all namespaces), decoded as ``struct``, and the list's
    resourceVersion (where the watch starts)."""
    params: dict[str, Any] = {"limit": _LIST_CHUNK}
    if fields:
        params["fieldSelector"] = fields
    namespace = "*" if _namespaced(res) else None
    br = client._client.prepare_request("list", res=res, namespace=namespace, params=params)
    br.response_type = struct  # type: ignore[assignment]  # lightkube 1.0 decodes Structs
    try:
        it = client._client.list(br)
        objects = [o async for o in it]
        return objects, str(it.resourceVersion or "")
    except (httpx2.HTTPError, OSError) as e:
        raise translate(e, f"list {what or res.__name__}") from e


async def watch_objects(
    client: AsyncClient,
    res: Any,
    struct: type[T],
    resource_version: str,
    fields: str = "",
    what: str = "",
    timeout_s: int = WATCH_TIMEOUT_S,
) -> AsyncIterator[tuple[str, T]]:
    """``(type, object)`` from ``resource_version`` on: ADDED, MODIFIED, DELETED and BOOKMARK
    (whose object carries only the new resourceVersion). Raises :class:`ResourceExpired` on 410
    and :class:`KubernetesError` on any other failure; reopened after each server timeout."""
    params: dict[str, Any] = {
        "resourceVersion": resource_version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": timeout_s,
    }
    if fields:
        params["fieldSelector"] = fields
    namespace = "*" if _namespaced(res) else None
    br = client._client.prepare_request("list", res=res, namespace=namespace, watch=True, params=params)
    br.response_type = struct  # type: ignore[assignment]
    stream: Any = client._client.watch(br, on_error=on_error_raise)
    try:
        async for kind, obj in stream:
            yield kind, obj
    except (httpx2.HTTPError, OSError) as e:
        raise translate(e, f"watch {what or res.__name__}") from e
    finally:
        await stream.aclose()


def _namespaced(res: Any) -> bool:
    return issubclass(res, NamespacedResourceG)


async def list_pods(client: AsyncClient, node: str) -> tuple[list[K8sPod], str]:
    """Every pod of ``node`` and the list's resourceVersion."""
    return await list_objects(client, Pod, K8sPod, _node_selector(node), f"pods of node {node}")


def watch_pods(
    client: AsyncClient, node: str, resource_version: str, timeout_s: int = WATCH_TIMEOUT_S
) -> AsyncIterator[tuple[str, K8sPod]]:
    """The pods of ``node`` from ``resource_version`` on (see :func:`watch_objects`)."""
    return watch_objects(
        client, Pod, K8sPod, resource_version, _node_selector(node), f"pods of node {node}", timeout_s
    )
