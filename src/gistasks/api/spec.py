"""What each endpoint is, declared where the endpoint is defined: its summary, its
parameters, its answer, who may call it. The route decorator attaches the declaration to the
handler; the OpenAPI builder walks the routes and reads it, so there is no second list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.routing import APIRoute, iter_route_contexts

from gistasks.api.params import Param
from gistasks.api.render import ApiError

ATTRIBUTE = "gistasks_endpoint"
READ = ("GET", "POST")
POST = ("POST",)
GET = ("GET",)

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


class Auth(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    """Anonymous callers get an answer too; a token adds to it."""
    NONE = "none"


class Kind(StrEnum):
    """How an endpoint answers."""

    ARCGIS = "arcgis"
    """``f=json|pjson|html`` and the family's error envelope."""
    HTML = "html"
    """Always an HTML page."""
    REDIRECT = "redirect"
    """A redirect (302), or an HTML page."""
    OAUTH_JSON = "oauth-json"
    """Always JSON, OAuth errors inside the Sharing envelope."""
    FILE = "file"
    """A file download (its own media type), or an error in the Sharing envelope."""
    DATA = "data"
    """An item's data: whatever it holds, in its media type (JSON too), or an error."""
    OGC = "ogc"
    """OGC API JSON: real HTTP statuses, errors as RFC 7807 problem details."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The declaration of one route."""

    summary: str
    answer: str | None = None
    """The name of the success schema (a component of the document)."""
    params: tuple[Param[Any], ...] = ()
    description: str = ""
    auth: Auth = Auth.REQUIRED
    kind: Kind = Kind.ARCGIS
    tag: str = ""
    """Empty: the API family's tag."""
    extension: bool = False
    """The operation is gistasks' own, not ArcGIS's."""
    default_format: str = "html"
    uploads: bool = False
    """The endpoint takes files (multipart parts with a file name): they are streamed to the
    content staging directory, each up to the upload bound, not read into memory."""
    open_params: str = ""
    """The endpoint also reads parameters it cannot list (a GP task's inputs); the text says
    which, for the document."""


def route(router: APIRouter, path: str, methods: Sequence[str], endpoint: Endpoint,
          aliases: Sequence[str] = ()) -> Callable[[Handler], Handler]:
    """Register the decorated handler for ``path`` (and, hidden from the document, each of
    ``aliases``) with its declaration."""

    def register(handler: Handler) -> Handler:
        setattr(handler, ATTRIBUTE, endpoint)
        router.add_api_route(path, handler, methods=list(methods))
        for alias in aliases:
            router.add_api_route(alias, handler, methods=list(methods), include_in_schema=False)
        return handler

    return register


def needs_post(operation: str) -> ApiError:
    """The answer to a GET of an operation that changes something."""
    return ApiError(405, f"{operation} must be called with POST",
                    [f"'{operation}' changes the server: send it as a POST request."])


def declared_routes(routes: Sequence[Any]) -> Iterator[tuple[str, set[str], Endpoint]]:
    """Every declared route of an application (``app.routes``): its full path, methods and
    declaration; aliases hidden from the document and undeclared routes are left out.
    FastAPI keeps included routers nested; its own iterator flattens them, prefixes and
    all."""
    for route in iter_route_contexts(routes):
        original = route.original_route
        if not isinstance(original, APIRoute) or not original.include_in_schema:
            continue
        ep = endpoint_of(route.endpoint)
        if ep is not None and route.path is not None:
            yield route.path, set(route.methods or ()), ep


def endpoint_of(handler: object) -> Endpoint | None:
    """The declaration of a route's handler, if it has one."""
    found = getattr(handler, ATTRIBUTE, None)
    return found if isinstance(found, Endpoint) else None
