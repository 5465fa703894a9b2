"""Request parameters, each declared once: the declaration parses the request and describes
itself in the OpenAPI document.

A parameter travels in the query string (GET) or the form body (POST, url-encoded or
multipart); a form value wins over a query value of the same name. ``Form`` holds the values of
one request and hands out typed values only for the parameters its endpoint declares, so a
handler cannot read a parameter the document does not describe.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gistasks.services.errors import InvalidParameterError, MissingParameterError
from gistasks.tasktypes import Registry

T = TypeVar("T")
Json = dict[str, Any]

EXTENSION = "gistasks extension, not ArcGIS."
FORMATS = ("json", "pjson", "html")


@dataclass(frozen=True, slots=True)
class Param(ABC, Generic[T]):
    """One request parameter. Subclasses say how its text becomes a value."""

    name: str
    description: str
    required: bool = False
    example: Any = None
    extension: bool = False
    """A gistasks extension: the document says so."""

    @abstractmethod
    def parse(self, text: str) -> T:
        """The value of non-blank ``text``; InvalidParameterError naming the parameter otherwise."""

    def type_schema(self) -> Json:
        return {"type": "string"}

    def describe(self, types: Registry) -> str:
        """The description; a parameter about task types may name this server's."""
        return self.description

    def schema(self, types: Registry) -> Json:
        """The JSON schema of the parameter, with its description, on a server with
        ``types``."""
        text = self.describe(types)
        return {**self.type_schema(), "description": f"{text} {EXTENSION}" if self.extension
                else text}

    def invalid(self, detail: str) -> InvalidParameterError:
        return InvalidParameterError(self.name, detail)


@dataclass(frozen=True, slots=True)
class Text(Param[str]):
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    """When given, the value must be one of these (compared without regard to case)."""
    default: str | None = None
    json_text: bool = False
    """The text is a JSON document (``parameters``, ``properties``)."""
    secret: bool = False

    def parse(self, text: str) -> str:
        if self.max_length is not None and len(text) > self.max_length:
            raise self.invalid(f"'{self.name}' must have at most {self.max_length} characters")
        if self.choices:
            lowered = text.strip().lower()
            for choice in self.choices:
                if choice.lower() == lowered:
                    return choice
            raise self.invalid(f"'{self.name}' must be one of {', '.join(self.choices)}")
        return text

    def type_schema(self) -> Json:
        schema: Json = {"type": "string"}
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.default is not None:
            schema["default"] = self.default
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.json_text:
            schema["contentMediaType"] = "application/json"
        if self.secret:
            schema["format"] = "password"
        return schema


@dataclass(frozen=True, slots=True)
class Integer(Param[int]):
    minimum: int | None = None
    maximum: int | None = None
    default: int | None = None
    hint: str = ""
    """What the minimum means, for errors: ``unlimited`` gives "an integer, -1 for
    unlimited" and "from -1 (unlimited) to ..."."""

    def parse(self, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise self.invalid(f"'{self.name}' must be an integer"
                               + (f", {self.minimum} for {self.hint}" if self.hint else "")
                               ) from None
        low = self.minimum if self.minimum is not None else -math.inf
        high = self.maximum if self.maximum is not None else math.inf
        if not low <= value <= high:
            raise self.invalid(f"'{self.name}' must be from {self._range()}")
        return value

    def _range(self) -> str:
        low = f"{self.minimum}" + (f" ({self.hint})" if self.hint else "")
        return f"{low} to {self.maximum}"

    def type_schema(self) -> Json:
        return _bounded("integer", self.minimum, self.maximum, self.default)


@dataclass(frozen=True, slots=True)
class Number(Param[float]):
    """A finite number (NaN and infinities are refused)."""

    minimum: float | None = None
    maximum: float | None = None
    default: float | None = None
    unit: str = ""
    """What the number counts (``minutes``), for errors."""

    def parse(self, text: str) -> float:
        value = finite(text)
        what = f"a number of {self.unit}" if self.unit else "a number"
        if value is None:
            raise self.invalid(f"'{self.name}' must be {what}.")
        if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum):
            raise self.invalid(f"'{self.name}' must be {what} from {_number(self.minimum)} to "
                               f"{_number(self.maximum)}")
        return value

    def type_schema(self) -> Json:
        return _bounded("number", self.minimum, self.maximum, self.default)


@dataclass(frozen=True, slots=True)
class Boolean(Param[bool]):
    """``true``/``false`` in any case (the Python client sends ``True``), or ``1``/``0``."""

    def parse(self, text: str) -> bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise self.invalid(f"'{self.name}' must be true or false")

    def type_schema(self) -> Json:
        return {"type": "boolean"}


SECONDS_BEFORE = 100_000_000_000
"""Numbers below this are epoch seconds (before 5138 AD), not milliseconds (before 1973)."""


@dataclass(frozen=True, slots=True)
class EpochMs(Param[int]):
    """A time in epoch milliseconds; epoch seconds are accepted too."""

    maximum: int = 253_402_300_799_999

    def parse(self, text: str) -> int:
        number = finite(text)
        if number is None or not 0 <= number <= self.maximum:
            raise self.invalid(f"'{self.name}' must be a time in epoch milliseconds")
        value = int(number)
        return value * 1000 if 0 < value < SECONDS_BEFORE else value

    def type_schema(self) -> Json:
        return {"type": "integer"}


def _bounded(kind: str, minimum: float | None, maximum: float | None,
             default: float | None) -> Json:
    """The schema of a number of ``kind`` with the bounds and default it has."""
    schema: Json = {"type": kind}
    for key, value in (("minimum", minimum), ("maximum", maximum), ("default", default)):
        if value is not None:
            schema[key] = value
    return schema


def _number(value: float | None) -> str:
    if value is None:
        return "any"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def finite(text: str) -> float | None:
    """``text`` as a finite number, or None (not a number, NaN or infinite)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class Form:
    """The parameters of one request, handed out typed for the declared parameters."""

    def __init__(self, values: Mapping[str, str], declared: Sequence[Param[Any]] | None,
                 repeated: Mapping[str, list[str]] | None = None) -> None:
        self.values = dict(values)
        self._declared = None if declared is None else {p.name for p in declared}
        self._repeated = dict(repeated or {})

    def every(self, param: Param[Any]) -> list[str]:
        """Every text of ``param`` (a name repeated in the query or the body, as
        ``jobStatus`` is), blank ones left out."""
        last = self.exact(param)
        found = self._repeated.get(param.name) or ([] if last is None else [last])
        return [t for t in found if t.strip()]

    def undeclared(self) -> dict[str, str]:
        """The parameters an endpoint with open parameters reads by name (a GP tool's
        inputs): every value but the request-wide ones (``f``, ``token``, a browser form's
        ``csrfToken``)."""
        return {k: v for k, v in self.values.items() if k not in ("f", "token", "csrfToken")}

    def repeats(self, name: str) -> list[str]:
        """Every value of ``name`` when it came more than once, else []."""
        return list(self._repeated.get(name, []))

    def exact(self, param: Param[Any]) -> str | None:
        """The text of ``param`` exactly as sent (blank too), None when absent; a text longer
        than the parameter's declared bound is refused."""
        if self._declared is not None and param.name not in self._declared:
            raise AssertionError(f"the endpoint reads {param.name!r} but does not declare it")
        text = self.values.get(param.name)
        bound = getattr(param, "max_length", None)
        if text is not None and bound is not None and len(text) > bound:
            raise param.invalid(f"'{param.name}' must have at most {bound} characters")
        return text

    def _text(self, param: Param[Any]) -> str | None:
        text = self.exact(param)
        return None if text is None or text.strip() == "" else text

    def given(self, param: Param[Any]) -> bool:
        """Whether the request carries a non-blank value for ``param``."""
        return self._text(param) is not None

    def get(self, param: Param[T]) -> T | None:
        """The value of ``param``, None when absent or blank."""
        text = self._text(param)
        return None if text is None else param.parse(text)

    def value(self, param: Param[T], default: T) -> T:
        """The value of ``param``, ``default`` when absent or blank."""
        found = self.get(param)
        return default if found is None else found

    def require(self, param: Param[T], detail: str = "") -> T:
        """The value of ``param``; MissingParameterError when absent or blank."""
        found = self.get(param)
        if found is None:
            raise MissingParameterError(param.name, detail or f"'{param.name}' is required.")
        return found

    def text(self, param: Param[Any], default: str = "") -> str:
        """The text of ``param`` as sent (unparsed: the service checks it), ``default`` when
        absent or blank."""
        found = self._text(param)
        return default if found is None else found

    def raw(self, name: str) -> str | None:
        """The text of a request-wide parameter (``f``, ``token``), not an endpoint's."""
        return self.values.get(name)


F = Text("f", "Response format: `json`, `pjson` (indented JSON) or `html` (a property page, "
         "the default). An unknown value is answered with error 400 in JSON.",
         choices=FORMATS, default="html", example="json")
F_JSON = Text("f", "Response format; unlike elsewhere the default is `json`, for answers and "
              "errors alike.", choices=FORMATS, default="json", example="json")
TOKEN = Text("token", "The token, as a form field (the query string, the "
             "`X-Esri-Authorization` and the `Authorization` headers work as well; a header "
             "wins).")
