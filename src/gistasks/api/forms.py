"""Reading a request's parameters: the query string and a form body (url-encoded or
multipart), strictly and within bounds.

* A body larger than ``max_body_bytes`` is refused (413) before a byte of it is read when it
  says its length, as soon as it passes the bound when it does not. All bodies being received
  at once share ``body_budget_bytes``: a body is charged as it arrives, twice while it is
  parsed, and its size as long as its request holds the values: beyond it, 503, try again.
  Either way the connection is closed, so the rest of a refused body is not read.
* At most ``max_fields`` parameters, query and body together.
* Names and values are UTF-8: a parameter that is not is refused naming it, never turned into
  U+FFFD. A multipart part sent as a file is read like any other field (it must be text).
* ``f`` is remembered as soon as it is seen, so that an error about the body itself still
  answers in the format the client asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from gistasks.api.render import ApiError
from gistasks.config import HttpLimits
from gistasks.services.errors import ServiceError, TokenRequiredError

log = logging.getLogger("gistasks.http")

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON_BODY = "application/json"
"""A JSON body (OGC API - Processes) is read whole, within the same bounds, and kept as text
in ``request.state.json_text`` for the handler."""
SNIFF_BYTES = 64 * 1024
"""How much of an unread body an error answer looks through for ``f``."""
SNIFF_WAIT_S = 0.2
"""How long an error answer waits for that much of a body to arrive."""


class ClientGoneError(Exception):
    """The client closed the connection before its request was read."""


class BodyBudget:
    """The bytes of request bodies being received now, all requests together. One event loop
    uses it, so plain counting is safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size


def _too_large(size: str, limit: int) -> ApiError:
    return ApiError(413, "Request body too large",
                    [f"The body is {size} bytes; this server takes at most {limit} bytes."],
                    close=True)


def _busy() -> ApiError:
    return ApiError(503, "The server is receiving too much at once",
                    ["Too many large requests are being received; try again in a moment."],
                    close=True)


def _text(data: bytes | bytearray | memoryview, name: str) -> str:
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"Invalid '{name}'", [f"'{name}' is not UTF-8 text."]) from None


def _name(data: bytes | memoryview) -> str:
    return _text(data, str(data, "utf-8", "replace"))


class _Values:
    """Parameters as they are read, counted against the bound."""

    def __init__(self, request: Request, limits: HttpLimits) -> None:
        self.request = request
        self.limit = limits.max_fields
        self.items: dict[str, str] = {}
        self.repeated: dict[str, list[str]] = {}
        """Every value of a name given more than once in one source (the query, or the
        body), in order; ``items`` holds the last."""
        self.count = 0
        self._source: dict[str, int] = {}
        self.source = 0

    def add(self, name: str, value: str) -> None:
        self.count += 1
        if self.count > self.limit:
            raise ApiError(400, "Too many parameters",
                           [f"A request may carry at most {self.limit} parameters."])
        if name == "f":
            self.request.state.f = value
        if name in self.items and self._source.get(name) == self.source:
            self.repeated.setdefault(name, [self.items[name]]).append(value)
        else:
            self.repeated.pop(name, None)
        self._source[name] = self.source
        self.items[name] = value

    def add_urlencoded(self, raw: bytes | bytearray) -> None:
        """The pairs of a url-encoded text, one at a time, each value decoded straight from
        the body (a large body is not copied into pieces first)."""
        view = memoryview(raw)
        start, end = 0, len(raw)
        while start < end:
            stop = raw.find(b"&", start)
            if stop < 0:
                stop = end
            if stop > start:
                eq = raw.find(b"=", start, stop)
                cut = stop if eq < 0 else eq
                key = _name(_unquote(raw, view, start, cut))
                self.add(key, _text(_unquote(raw, view, cut + 1, stop) if eq >= 0 else b"",
                                    key))
            start = stop + 1


def _unquote(raw: bytes | bytearray, view: memoryview, start: int,
             stop: int) -> bytes | memoryview:
    """Percent and plus decoding of ``raw[start:stop]``; text that has neither is handed on
    as it is (a view, not a copy). Searched with ``find``, at C speed: ``in`` on a memoryview
    walks it byte by byte in Python, 0.16 s for an 8 MB value on the event loop."""
    if raw.find(b"%", start, stop) < 0 and raw.find(b"+", start, stop) < 0:
        return view[start:stop]
    return unquote_to_bytes(view[start:stop].tobytes().replace(b"+", b" "))


async def read_values(request: Request, limits: HttpLimits,
                      budget: BodyBudget) -> tuple[dict[str, str], int]:
    """The request's parameters (a body value wins over a query value of the same name), and
    how much of the budget they hold: the caller gives it back when the request is done with
    them (the values of a request waiting for a password check hold their share). ApiError
    for a body or parameter outside the bounds (the budget then given back already)."""
    request.state.f = ""  # from here on, an error answer does not read the body itself
    values = _Values(request, limits)
    values.add_urlencoded(bytes(request.scope.get("query_string", b"")))
    media, _ = parse_options_header(request.headers.get("content-type", ""))
    kind = media.decode("latin-1").lower()
    held = 0
    if request.method == "POST" and kind in (FORM, MULTIPART):
        body = await _read_body(request, limits, budget)
        size = len(body)
        if not budget.take(size):  # its parsed values take about as much again
            budget.give(size)
            request.state.f = request.state.f or sniff_format(body)
            raise _busy()
        values.source = 1
        try:
            if kind == FORM:
                values.add_urlencoded(body)
            else:
                _add_multipart(values, request.headers.get("content-type", ""), body,
                               limits.max_body_bytes)
        except BaseException:
            if not getattr(request.state, "f", ""):
                request.state.f = sniff_format(body)
            budget.give(2 * size)
            raise
        del body  # the parsed values are what is kept
        budget.give(size)
        held = size
    elif request.method in ("POST", "PUT") and kind == JSON_BODY:
        body = await _read_body(request, limits, budget)
        held = len(body)
        try:
            request.state.json_text = _text(body, "the body")
        except BaseException:
            budget.give(held)
            raise
    request.state.f = values.items.get("f", "")
    request.state.repeated = values.repeated
    return values.items, held


async def _read_body(request: Request, limits: HttpLimits,
                     budget: BodyBudget) -> bytearray:
    """The whole body, within its bound and the shared budget (the caller gives back
    ``len(body)`` of the budget when done with it)."""
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "Invalid request", ["Content-Length is not a number."],
                           close=True)
        if int(declared) > limit:
            if not request.state.f:
                request.state.f = sniff_format(await _head(request)) or \
                    await _sniff_rest(request, limit)
            raise _too_large(declared, limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            if len(body) + len(chunk) > limit:
                raise _too_large(f"more than {limit}", limit)
            if not budget.take(len(chunk)):
                raise _busy()
            body += chunk
    except BaseException as exc:  # refused, gone, or cancelled: what was taken goes back
        budget.give(len(body))
        if isinstance(exc, ClientDisconnect):
            raise ClientGoneError() from None
        if isinstance(exc, ApiError) and not request.state.f:
            request.state.f = sniff_format(body)
        raise
    return body


class _PartHeaders:
    """The headers of the multipart part being read (``current``, lower-case names), from
    python-multipart's header callbacks."""

    def __init__(self) -> None:
        self.current: dict[str, bytes] = {}
        self._field = b""
        self._value = b""

    def _on_field(self, chunk: bytes, start: int, end: int) -> None:
        self._field += chunk[start:end]

    def _on_value(self, chunk: bytes, start: int, end: int) -> None:
        self._value += chunk[start:end]

    def _on_end(self) -> None:
        self.current[self._field.decode("latin-1").lower()] = self._value
        self._field, self._value = b"", b""

    def callbacks(self, **more: Any) -> Any:
        """python-multipart's callbacks: these headers' and ``more`` (the part's data and
        end)."""
        return {"on_header_field": self._on_field, "on_header_value": self._on_value,
                "on_header_end": self._on_end, **more}


def _add_multipart(values: _Values, content_type: str, body: bytearray, limit: int) -> None:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "Invalid request body", ["The multipart body has no boundary."])
    headers = _PartHeaders()
    current = headers.current
    data = bytearray()

    def on_part_data(chunk: bytes, start: int, end: int) -> None:
        data.extend(chunk[start:end])

    def on_part_end() -> None:
        # Counted as each part ends: a body of many tiny parts stops at the bound.
        _, params = parse_options_header(current.get("content-disposition", b""))
        raw_name = params.get(b"name")
        if raw_name is None:
            raise ApiError(400, "Invalid request body", ["A multipart part has no name."])
        name = _name(raw_name)
        values.add(name, _text(data, name))
        current.clear()
        data.clear()

    parser = MultipartParser(boundary, headers.callbacks(
        on_part_data=on_part_data, on_part_end=on_part_end), max_size=limit)
    try:
        for k in range(0, len(body), 65536):  # in pieces: the body is not copied whole
            parser.write(bytes(body[k:k + 65536]))
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # python-multipart raises several kinds for a broken body
        raise ApiError(400, "Invalid request body",
                       [f"The multipart body cannot be read: {exc}"]) from None


_F_URLENCODED = re.compile(rb"(?:^|&)f=([A-Za-z]{1,8})(?:&|$)")
_F_PART = b'name="f"'
SNIFF_PARTS = 16
"""Parts named ``f`` looked at, at most: the sniffing takes time linear in what it reads."""


def sniff_format(body: bytes | bytearray) -> str:
    """The ``f`` a body carries, found without parsing it (for errors about the body)."""
    head = bytes(body[:SNIFF_BYTES])
    found = _F_URLENCODED.search(head)
    if found:
        return found.group(1).decode("ascii")
    start = 0
    for _ in range(SNIFF_PARTS):  # multipart: the value after the part's headers
        at = head.find(_F_PART, start)
        if at < 0:
            break
        blank = head.find(b"\r\n\r\n", at, at + 1024)
        if blank >= 0:
            end = head.find(b"\r\n", blank + 4, blank + 4 + 16)
            value = head[blank + 4:end] if end >= 0 else b""
            if value.isalpha():
                return value.decode("ascii")
        start = at + len(_F_PART)
    return ""


async def _head(request: Request) -> bytes:
    """What has already arrived of a body nobody has read, up to about ``SNIFF_BYTES``: an
    error answer does not wait for more."""
    head = bytearray()
    with anyio.move_on_after(SNIFF_WAIT_S):
        try:
            async for chunk in request.stream():
                head += chunk
                if len(head) >= SNIFF_BYTES:
                    break
        except ClientDisconnect:
            pass
    return bytes(head)


async def unread_body_format(request: Request) -> str:
    """The ``f`` in the start of a form body that no handler read (an unknown route, a wrong
    method)."""
    media, _ = parse_options_header(request.headers.get("content-type", ""))
    if media.decode("latin-1").lower() not in (FORM, MULTIPART):
        return ""
    return sniff_format(await _head(request))


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A file part of an upload, written to the staging directory as it arrived."""

    path: Path
    filename: str
    size: int


async def read_upload(request: Request, limits: HttpLimits, budget: BodyBudget,
                      staging: Path, max_file_bytes: int,
                      check_token: Callable[[Mapping[str, str]], None] | None = None
                      ) -> tuple[dict[str, str], int, dict[str, StagedFile]]:
    """The parameters of an upload request, and its file parts streamed to ``staging``
    (never held in memory; each at most ``max_file_bytes``, the rest of the body within the
    usual bounds). The caller removes the staged files it did not take. A body that is not
    multipart is read as :func:`read_values` reads it.

    ``check_token`` (when the caller is not known yet) is called with the parameters read so
    far (the ``token`` field, or a browser form's ``csrfToken``) before the first byte of a
    file is written: it raises to refuse the upload, so that nobody writes to the disk
    without signing in."""
    media, _ = parse_options_header(request.headers.get("content-type", ""))
    if request.method != "POST" or media.decode("latin-1").lower() != MULTIPART:
        plain, size = await read_values(request, limits, budget)
        return plain, size, {}
    request.state.f = ""
    values = _Values(request, limits)
    values.add_urlencoded(bytes(request.scope.get("query_string", b"")))
    values.source = 1
    declared = request.headers.get("content-length", "")
    total_limit = max_file_bytes + limits.max_body_bytes
    if declared.strip().isdigit() and int(declared) > total_limit:
        raise _too_large(declared, total_limit)
    files: dict[str, StagedFile] = {}
    held = 0
    state: dict[str, object] = {}
    headers = _PartHeaders()
    current = headers.current
    data = bytearray()
    written = [0]

    def on_headers_finished() -> None:
        _, params = parse_options_header(current.get("content-disposition", b""))
        if b"filename" in params:
            if check_token is not None and not state.get("checked"):
                check_token(values.items)
                state["checked"] = True
            path = staging / f"upload-{uuid.uuid4().hex}"
            state["out"] = open(path, "wb")  # noqa: SIM115 - closed at the part's end
            state["path"] = path
            state["filename"] = str(params[b"filename"], "utf-8", "replace")
            written[0] = 0

    def on_part_data(chunk: bytes, start: int, end: int) -> None:
        out = state.get("out")
        if out is not None:
            written[0] += end - start
            if written[0] > max_file_bytes:
                raise ApiError(413, "The file is too large",
                               [f"A file may have at most {max_file_bytes} bytes on this "
                                "server (GISTASKS_MAX_UPLOAD_MB)."], close=True)
            out.write(chunk[start:end])  # type: ignore[attr-defined]
        else:
            if len(data) + end - start > limits.max_body_bytes:
                raise _too_large(f"more than {limits.max_body_bytes}", limits.max_body_bytes)
            data.extend(chunk[start:end])

    def on_part_end() -> None:
        nonlocal held
        _, params = parse_options_header(current.get("content-disposition", b""))
        raw_name = params.get(b"name")
        if raw_name is None:
            raise ApiError(400, "Invalid request body", ["A multipart part has no name."])
        name = _name(raw_name)
        out = state.pop("out", None)
        if out is not None:
            out.close()  # type: ignore[attr-defined]
            path = state.pop("path")
            assert isinstance(path, Path)
            old = files.get(name)
            if old is not None:
                with contextlib.suppress(FileNotFoundError):
                    old.path.unlink()
            files[name] = StagedFile(path, str(state.pop("filename")), written[0])
            values.add(name, files[name].filename)
        else:
            if not budget.take(len(data)):
                raise _busy()
            held += len(data)
            values.add(name, _text(data, name))
        current.clear()
        data.clear()

    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "Invalid request body", ["The multipart body has no boundary."])
    parser = MultipartParser(boundary, headers.callbacks(
        on_headers_finished=on_headers_finished, on_part_data=on_part_data,
        on_part_end=on_part_end), max_size=total_limit)
    head = bytearray()
    try:
        async for chunk in request.stream():
            if len(head) < SNIFF_BYTES:
                head += chunk[:SNIFF_BYTES - len(head)]
            parser.write(chunk)
        parser.finalize()
    except BaseException as exc:
        if not getattr(request.state, "f", ""):
            request.state.f = sniff_format(head)
            if not request.state.f and isinstance(exc, ApiError):
                request.state.f = await _sniff_rest(request, limits.max_body_bytes)
        out = state.pop("out", None)
        if out is not None:
            out.close()  # type: ignore[attr-defined]
            path = state.pop("path")
            assert isinstance(path, Path)
            os.unlink(path)
        for staged in files.values():
            with contextlib.suppress(FileNotFoundError):
                staged.path.unlink()
        budget.give(held)
        if isinstance(exc, ClientDisconnect):
            raise ClientGoneError() from None
        if isinstance(exc, ApiError | ServiceError):
            raise
        if isinstance(exc, Exception):
            raise ApiError(400, "Invalid request body",
                           [f"The multipart body cannot be read: {exc}"]) from None
        raise
    request.state.f = values.items.get("f", "")
    request.state.repeated = values.repeated
    return values.items, held, files


async def _sniff_rest(request: Request, bound: int) -> str:
    """The ``f`` in the part of a body not read yet (an error about an earlier part answers
    in the format asked for further on), reading at most ``bound`` bytes more, in windows
    of ``SNIFF_BYTES`` that overlap by 2 KiB, and keeping none of it."""
    window = b""
    read = 0
    with anyio.move_on_after(SNIFF_WAIT_S * 10):
        try:
            async for chunk in request.stream():
                read += len(chunk)
                window = window[-2048:] + chunk
                while window:
                    found = sniff_format(b"&" + window[:SNIFF_BYTES])
                    if found:
                        return found
                    if len(window) <= SNIFF_BYTES:
                        break
                    window = window[SNIFF_BYTES - 2048:]
                if read > bound:
                    break
        except ClientDisconnect:
            pass
    return ""


def require_token(verify: Callable[[str], object]) -> Callable[[Mapping[str, str]], None]:
    """A ``check_token`` for :func:`read_upload`: the token must be there and good."""

    def check(values: Mapping[str, str]) -> None:
        token = values.get("token")
        if not token:
            raise TokenRequiredError()
        verify(token)

    return check
