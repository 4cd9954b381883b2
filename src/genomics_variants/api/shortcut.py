"""Serve the busiest plain GET routes ahead of the framework's middleware and routing.

A GET /g_variants answered through the whole stack (Starlette's exception middleware,
FastAPI's exit-stack middleware, the router's path matching, the route's own exception
wrapper) spends about a fifth of its server time there (measured in process), none of it
needed: the handler answers every expected failure itself (`Service.serve`), takes no
body and no dependency. `Shortcut` sits inside Starlette's outermost error middleware
(so an unexpected exception is still a plain 500) and hands such a request straight to
its handler; every other request - and the same path with any other method - goes down
the stack as before, where the route is still registered (for HEAD and for OpenAPI).

A route is an exact path, or a path ending in one parameter (`/variants/{variant}`), which
matches as Starlette's default `str` parameter does: one non-empty segment without "/",
handed to the handler in `request.path_params`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]


class Shortcut:
    """ASGI middleware: GET requests for one of `routes` (paths after the app's root path,
    see the module docstring) go to its handler; everything else to `app`."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, Handler]) -> None:
        self.app = app
        self.exact: dict[str, Handler] = {}
        self.prefixed: dict[str, tuple[str, Handler]] = {}  # prefix -> (parameter, handler)
        for path, handler in routes.items():
            head, slash, last = path.rpartition("/")
            if last.startswith("{") and last.endswith("}") and "{" not in head:
                self.prefixed[head + slash] = (last[1:-1], handler)
            else:
                self.exact[path] = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            handler = self._match(scope)
            if handler is not None:
                response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _match(self, scope: Scope) -> Handler | None:
        path = _route_path(scope)
        handler = self.exact.get(path)
        if handler is not None or not self.prefixed:
            return handler
        head, slash, last = path.rpartition("/")
        found = self.prefixed.get(head + slash)
        if found is None or not last:
            return None
        name, handler = found
        scope["path_params"] = {name: last}
        return handler


def _route_path(scope: Scope) -> str:
    """The path the router matches (as Starlette's `get_route_path` works it out): the
    request path without the app's root path when it starts with it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    return rest if not rest or rest[0] == "/" else path
