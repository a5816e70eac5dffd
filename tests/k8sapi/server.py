"""An in-process Kubernetes API server for the tests: real HTTP (aiohttp, in a thread of its own),
the real API's paths, list and watch semantics and error objects, over an in-memory store.

What it does, as kube-apiserver does (see README.md for what it does not):

* ``GET`` list of a resource, cluster-wide or in a namespace, with ``fieldSelector``
  (``spec.nodeName``, ``metadata.name``, ``metadata.namespace``), ``labelSelector`` (``k=v``,
  ``k!=v``, ``k``), ``limit``/``continue`` chunking; the list's ``metadata.resourceVersion``.
* ``watch=1``: a chunked stream of newline-delimited ``{"type", "object"}`` events after
  ``resourceVersion`` (all objects as ``ADDED`` first when it is empty or ``"0"``), ``BOOKMARK``
  events every :attr:`ApiServer.bookmark_interval` with ``allowWatchBookmarks=true``, the stream
  ended after ``timeoutSeconds``, and an ``ERROR`` event carrying a ``410 Expired`` Status when the
  resourceVersion is older than the last :meth:`ApiServer.compact` (a ``continue`` token that old
  gives HTTP 410 on a list).
* ``GET``/``POST``/``PUT``/``DELETE`` of one object; ``PUT`` and ``PATCH`` (merge patch) of the
  ``status`` subresource, with ``409 Conflict`` on a stale ``resourceVersion``; ``404 NotFound``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCES = {
    r.plural: r
    for r in (
        Resource("", "v1", "pods", "Pod", True),
        Resource("", "v1", "nodes", "Node", False),
        Resource("cilium.io", "v1alpha1", "tracingpolicies", "TracingPolicy", False),
        Resource("cilium.io", "v1alpha1", "tracingpoliciesnamespaced", "TracingPolicyNamespaced", True),
        Resource("cilium.io", "v1alpha1", "podinfo", "PodInfo", True),
        Resource(
            "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False
        ),
    )
}
BY_KIND = {r.kind: r for r in RESOURCES.values()}


def status_object(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``Status`` as the API server returns with an error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _error(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(status_object(code, reason, message), status=code)


def _field(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def _selected(obj: dict[str, Any], fields: str, labels: str) -> bool:
    for term in filter(None, fields.split(",")):
        key, neg, want = term.partition("!=") if "!=" in term else term.partition("=")
        got = _field(obj, key.strip())
        want = want.lstrip("=")
        if (got == want) == bool(neg and "!" in term):
            return False
    have = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, labels.split(",")):
        if "!=" in term:
            k, _, v = term.partition("!=")
            if have.get(k) == v:
                return False
        elif "=" in term:
            k, _, v = term.partition("=")
            if have.get(k) != v.lstrip("="):
                return False
        elif term not in have:
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class ApiServer:
    """Start with :meth:`start` (returns the URL), stop with :meth:`stop`. State changes from the
    test's thread go through :meth:`put`, :meth:`delete` and :meth:`compact`."""

    def __init__(self, bookmark_interval: float = 1.0) -> None:
        self.bookmark_interval = bookmark_interval
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, ns, name)
        self._log: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, type, plural, object)
        self._rv = 1000
        self._compacted = 0
        self._cond: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        #: every request seen: (method, path, query string)
        self.requests: list[tuple[str, str, str]] = []
        #: HTTP statuses to answer the next requests of a path prefix with: (prefix, code) pairs
        self.fail_next: list[tuple[str, int]] = []
        self.url = ""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> str:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._cond = asyncio.Condition()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, handle_signals=False)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()
            loop.run_forever()
            # open watch streams' handlers are ended here, not left pending when the loop closes
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="k8s-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.url

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig file pointing at this server (no authentication)."""
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "test", "cluster": {"server": self.url}}],
                    "users": [{"name": "test", "user": {}}],
                    "contexts": [
                        {
                            "name": "test",
                            "context": {"cluster": "test", "user": "test", "namespace": namespace},
                        }
                    ],
                    "current-context": "test",
                }
            )
        )
        return path

    # -- the test's side --------------------------------------------------------------------

    def _run(self, fn: Any, *args: Any) -> Any:
        assert self._loop is not None, "start() first"

        async def go() -> Any:
            assert self._cond is not None
            async with self._cond:
                out = fn(*args)
                self._cond.notify_all()
                return out

        return asyncio.run_coroutine_threadsafe(go(), self._loop).result(10)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object (its ``kind`` says the resource); returns it as stored."""
        return self._run(self._put, copy.deepcopy(obj))

    def delete(self, kind: str, name: str, namespace: str = "") -> None:
        self._run(self._delete, BY_KIND[kind].plural, namespace, name)

    def get(self, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        found = self._objects.get((BY_KIND[kind].plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def compact(self) -> None:
        """Forget the history: a watch or continue token from before now gets 410 Expired."""
        self._run(self._compact)

    @property
    def resource_version(self) -> int:
        return self._rv

    # -- the store ---------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _put(self, obj: dict[str, Any]) -> dict[str, Any]:
        res = BY_KIND[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "") if res.namespaced else ""
        if res.namespaced and not ns:
            meta["namespace"] = ns = "default"
        key = (res.plural, ns, meta["name"])
        old = self._objects.get(key)
        meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
        meta.setdefault(
            "creationTimestamp",
            old["metadata"]["creationTimestamp"] if old else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        obj["apiVersion"] = res.api_version
        if res.kind == "CustomResourceDefinition":
            # kube-apiserver reports a new CRD's names accepted and the CRD Established at once
            # (no conflicting names here)
            obj["status"] = {
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                ],
                "acceptedNames": obj.get("spec", {}).get("names", {}),
                "storedVersions": [
                    v["name"] for v in obj.get("spec", {}).get("versions", []) if v.get("storage")
                ],
            }
        meta["resourceVersion"] = self._next_rv()
        if old is not None:
            meta["generation"] = old["metadata"].get("generation", 1) + (
                1 if old.get("spec") != obj.get("spec") else 0
            )
        else:
            meta["generation"] = 1
        self._objects[key] = obj
        self._log.append((self._rv, "MODIFIED" if old else "ADDED", res.plural, copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def _delete(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        obj = self._objects.pop((plural, ns, name), None)
        if obj is None:
            return None
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._log.append((self._rv, "DELETED", plural, copy.deepcopy(obj)))
        return obj

    def _compact(self) -> None:
        self._compacted = self._rv
        self._log.clear()

    # -- HTTP --------------------------------------------------------------------------------

    @staticmethod
    def _route(path: str) -> tuple[Resource, str, str, str] | None:
        """(resource, namespace, name, subresource) of an API path, or None."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            rest, group, version = parts[2:], "", "v1"
        elif len(parts) >= 3 and parts[0] == "apis":
            rest, group, version = parts[3:], parts[1], parts[2]
        else:
            return None
        ns = ""
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        res = RESOURCES.get(rest[0])
        if res is None or res.group != group or res.version != version:
            return None
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        return res, ns, name, sub

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, request.query_string))
        for i, (prefix, code) in enumerate(self.fail_next):
            if request.path.startswith(prefix):
                del self.fail_next[i]
                return _error(code, "InternalError", f"injected failure {code}")
        if request.path == "/version":
            return web.json_response({"major": "1", "minor": "29", "gitVersion": "v1.29.0"})
        route = self._route(request.path)
        if route is None:
            return _error(
                404, "NotFound", f"the server could not find the requested resource ({request.path})"
            )
        res, ns, name, sub = route
        if res.namespaced is False and ns:
            return _error(404, "NotFound", f"{res.plural} is not namespaced")
        q = request.query
        if request.method == "GET" and not name:
            if q.get("watch") in ("1", "true"):
                return await self._watch(request, res, ns)
            return self._list(res, ns, q)
        if request.method == "POST" and not name:
            body = await request.json()
            body.setdefault("metadata", {})
            if res.namespaced:
                body["metadata"]["namespace"] = ns or body["metadata"].get("namespace", "default")
            key = (
                res.plural,
                body["metadata"].get("namespace", "") if res.namespaced else "",
                body["metadata"]["name"],
            )
            if key in self._objects:
                return _error(409, "AlreadyExists", f'{res.plural} "{key[2]}" already exists')
            body["kind"] = res.kind
            return web.json_response(await self._locked(self._put, body), status=201)
        key = (res.plural, ns, name)
        obj = self._objects.get(key)
        if obj is None:
            return _error(404, "NotFound", f'{res.plural} "{name}" not found')
        if request.method == "GET":
            return web.json_response(obj)
        if request.method == "DELETE":
            gone = await self._locked(self._delete, res.plural, ns, name)
            return web.json_response(gone)
        if request.method in ("PUT", "PATCH"):
            body = await request.json()
            new = copy.deepcopy(obj)
            if request.method == "PUT":
                sent = (body.get("metadata") or {}).get("resourceVersion")
                if sent and sent != obj["metadata"]["resourceVersion"]:
                    return _error(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {res.plural} "{name}": the object has been '
                        "modified; please apply your changes to the latest version and try again",
                    )
                if sub == "status":
                    new["status"] = body.get("status", {})
                else:
                    new = {**body, "kind": res.kind, "status": obj.get("status", {})}
                    new["metadata"] = {**obj["metadata"], **(body.get("metadata") or {})}
            else:
                if request.content_type not in ("application/merge-patch+json", "application/json"):
                    return _error(
                        415, "UnsupportedMediaType", f"patch type {request.content_type} not supported here"
                    )
                if sub == "status":
                    new["status"] = merge_patch(obj.get("status", {}), body.get("status", {}))
                else:
                    new = merge_patch(obj, {k: v for k, v in body.items() if k != "status"})
            new["metadata"].pop("resourceVersion", None)
            return web.json_response(await self._locked(self._put, new))
        return _error(405, "MethodNotAllowed", f"{request.method} is not supported")

    async def _locked(self, fn: Any, *args: Any) -> Any:
        assert self._cond is not None
        async with self._cond:
            out = fn(*args)
            self._cond.notify_all()
            return out

    def _matching(self, res: Resource, ns: str, q: Any) -> list[dict[str, Any]]:
        fields, labels = q.get("fieldSelector", ""), q.get("labelSelector", "")
        return [
            o
            for (plural, ons, _), o in sorted(self._objects.items())
            if plural == res.plural and (not ns or ons == ns) and _selected(o, fields, labels)
        ]

    def _list(self, res: Resource, ns: str, q: Any) -> web.Response:
        items = self._matching(res, ns, q)
        rv, start = self._rv, 0
        if q.get("continue"):
            token = json.loads(base64.b64decode(q["continue"]))
            rv, start = token["rv"], token["start"]
            if rv <= self._compacted:
                return _error(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter.",
                )
        limit = int(q.get("limit", "0") or 0)
        page = items[start : start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and start + limit < len(items):
            meta["continue"] = base64.b64encode(
                json.dumps({"rv": rv, "start": start + limit}).encode()
            ).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        return web.json_response(
            {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta, "items": page}
        )

    async def _watch(self, request: web.Request, res: Resource, ns: str) -> web.StreamResponse:
        q = request.query
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        fields, labels = q.get("fieldSelector", ""), q.get("labelSelector", "")
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(q.get("timeoutSeconds", "0") or 0)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout if timeout else None
        rv_text = q.get("resourceVersion", "")

        async def send(kind: str, obj: dict[str, Any]) -> None:
            await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        def mine(plural: str, obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata", {})
            return (
                plural == res.plural
                and (not ns or meta.get("namespace") == ns)
                and _selected(obj, fields, labels)
            )

        assert self._cond is not None
        if rv_text in ("", "0"):
            last = self._rv
            for o in self._matching(res, ns, q):
                await send("ADDED", o)
        else:
            last = int(rv_text)
            if last < self._compacted:
                await send(
                    "ERROR",
                    status_object(410, "Expired", f"too old resource version: {last} ({self._compacted})"),
                )
                await resp.write_eof()
                return resp
        next_bookmark = loop.time() + self.bookmark_interval
        try:
            while end is None or loop.time() < end:
                pending = self._events_after(last, mine)
                for rv, kind, obj in pending:
                    await send(kind, obj)
                    last = rv
                if bookmarks and loop.time() >= next_bookmark:
                    # "every event of yours up to here is sent": only when none is waiting
                    # (one may have been stored while the sends above awaited)
                    if not self._events_after(last, mine):
                        last = max(last, self._rv)
                    await send(
                        "BOOKMARK",
                        {
                            "kind": res.kind,
                            "apiVersion": res.api_version,
                            "metadata": {"resourceVersion": str(last)},
                        },
                    )
                    next_bookmark = loop.time() + self.bookmark_interval
                wait = next_bookmark - loop.time() if bookmarks else 0.5
                if end is not None:
                    wait = min(wait, end - loop.time())
                # asyncio.timeout, not wait_for: the wait must stay in this task, or a cancel
                # (the server stopping) leaves the lock released under the ``async with``
                async with self._cond:
                    try:
                        async with asyncio.timeout(max(wait, 0.01)):
                            await self._cond.wait()
                    except TimeoutError:
                        pass
                if self._compacted > last:
                    await send("ERROR", status_object(410, "Expired", f"too old resource version: {last}"))
                    break
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    def _events_after(self, rv: int, mine: Any) -> Iterable[tuple[int, str, dict[str, Any]]]:
        return [(r, k, o) for r, k, p, o in self._log if r > rv and mine(p, o)]


@contextlib.contextmanager
def serving(bookmark_interval: float = 1.0) -> Iterator[ApiServer]:
    """A started :class:`ApiServer`, stopped after."""
    server = ApiServer(bookmark_interval=bookmark_interval)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def eventually(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait (on the running loop) until ``cond()`` holds; fail naming ``what`` after ``timeout``."""
    with anyio.move_on_after(timeout):
        while not cond():
            await anyio.sleep(0.02)
        return
    raise AssertionError(f"timed out waiting for {what}")
