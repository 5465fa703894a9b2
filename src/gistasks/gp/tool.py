"""The geoprocessing tool contract: a class that declares its parameters next to its
``execute``.

::

    class Hello(Tool):
        '''Greets somebody.'''

        name = "Hello"
        parameters = (
            Parameter("Name", GPString(), "Who to greet", required=True),
            Parameter("Greeting", GPString(), direction=Direction.OUTPUT),
        )

        def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
            job.message(f"greeting {inputs['Name']}")
            return {"Greeting": f"Hello, {inputs['Name']}!"}

The declaration is the whole truth about a tool: the server validates every input against it
before a job is queued, answers the task JSON and the OGC process description from it, and
checks the outputs ``execute`` returns against it. ``execute`` runs in a child process, in its
job folder, and reports through the :class:`JobContext` it is given.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from gistasks.gp.datatypes import GPType, to_text

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
"""A tool's or a parameter's name: what ArcGIS accepts as a GP name."""
RESERVED = frozenset({"f", "token", "context", "returnZ", "returnM", "returnMessages",
                      "env:outSR", "env:processSR", "returnType", "outSR"})
"""Request-wide fields a parameter may not be called (compared without regard to case)."""
MAX_MESSAGES = 1000
"""Messages kept per job; later ones are dropped, and one message says so."""
MAX_MESSAGE_CHARS = 4000


class Direction(StrEnum):
    INPUT = "esriGPParameterDirectionInput"
    OUTPUT = "esriGPParameterDirectionOutput"


class MessageType(StrEnum):
    INFORMATIVE = "esriJobMessageTypeInformative"
    WARNING = "esriJobMessageTypeWarning"
    ERROR = "esriJobMessageTypeError"


@dataclass(frozen=True)
class Parameter:
    """One parameter of a tool, as the task JSON describes it."""

    name: str
    data_type: GPType
    display_name: str = ""
    description: str = ""
    direction: Direction = Direction.INPUT
    required: bool = False
    """An input the caller must give (``esriGPParameterTypeRequired``); outputs are
    ``esriGPParameterTypeDerived``."""
    default: Any = None
    """The value of an input the caller leaves out (checked against the type)."""
    choices: tuple[Any, ...] = ()
    """The only values allowed (a ``choiceList``)."""
    category: str = ""

    @property
    def is_input(self) -> bool:
        return self.direction == Direction.INPUT

    @property
    def parameter_type(self) -> str:
        if not self.is_input:
            return "esriGPParameterTypeDerived"
        return "esriGPParameterTypeRequired" if self.required else "esriGPParameterTypeOptional"

    def value_of_text(self, text: str) -> Any:
        """A form field's text as this parameter's normal JSON value; ValueError otherwise."""
        return self._chosen(self.data_type.parse(text))

    def value_of_json(self, value: Any) -> Any:
        """A JSON value as this parameter's normal JSON value; ValueError otherwise."""
        return self._chosen(self.data_type.accept(value))

    def _chosen(self, value: Any) -> Any:
        if self.choices:
            members = value if isinstance(value, list) else [value]
            for member in members:
                if member not in self.choices:
                    raise ValueError("must be one of " + ", ".join(
                        to_text(c) for c in self.choices))
        return value

    def default_json(self) -> Any:
        """The normal JSON value of the default (None when there is none)."""
        return None if self.default is None else self.value_of_json(self.default)


class JobContext:
    """What a running tool is given: its job folder, and a way to report messages and
    progress (they reach the job's status while it runs).

    ``emit`` receives ``("message", type, text)`` and ``("progress", percent, text)``.
    """

    def __init__(self, job_id: str, folder: Path, emit: Callable[[tuple[Any, ...]], None]
                 ) -> None:
        self.job_id = job_id
        self.folder = folder
        self._emit = emit
        self._messages = 0

    def message(self, text: str, kind: MessageType = MessageType.INFORMATIVE) -> None:
        """Add a message to the job (informative by default)."""
        self._messages += 1
        if self._messages > MAX_MESSAGES:
            if self._messages == MAX_MESSAGES + 1:
                self._emit(("message", MessageType.WARNING,
                            f"More than {MAX_MESSAGES} messages: the rest are not kept."))
            return
        self._emit(("message", MessageType(kind), str(text)[:MAX_MESSAGE_CHARS]))

    def warning(self, text: str) -> None:
        self.message(text, MessageType.WARNING)

    def error(self, text: str) -> None:
        """Report an error message (the job still ends as ``execute`` ends: raise to fail)."""
        self.message(text, MessageType.ERROR)

    def progress(self, percent: float | None, text: str = "") -> None:
        """How far the tool is (0-100; None when it cannot say), with an optional text."""
        if percent is not None:
            percent = (min(100.0, max(0.0, float(percent))) if math.isfinite(percent)
                       else None)
        self._emit(("progress", percent, str(text)[:MAX_MESSAGE_CHARS]))

    def path(self, name: str) -> Path:
        """The path of ``name`` inside the job folder (sub-folders are made); ValueError for
        a name that would lead outside it (absolute, ``..``, or through a link)."""
        relative = PurePosixPath(name)
        if not name or relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"{name!r} is not a path inside the job folder")
        target = self.folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(self.folder.resolve()) or \
                target.is_symlink():
            raise ValueError(f"{name!r} leads outside the job folder")
        return target


class Tool(ABC):
    """One geoprocessing tool (a GP task). Subclasses set ``name`` and ``parameters`` and
    implement ``execute``; ``display_name`` and ``description`` (default: the docstring's
    first paragraph) describe it."""

    name: ClassVar[str]
    display_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    help_url: ClassVar[str] = ""
    parameters: ClassVar[tuple[Parameter, ...]] = ()

    @abstractmethod
    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        """Do the work: ``inputs`` holds every input (defaults filled in, as Python values);
        return the outputs by name. Raise to fail the job (the exception's text becomes
        its error message)."""

    @classmethod
    def summary(cls) -> str:
        """The description, or the docstring's first paragraph."""
        if cls.description:
            return cls.description
        doc = (cls.__doc__ or "").strip()
        return " ".join(doc.split("\n\n", 1)[0].split())

    @classmethod
    def title(cls) -> str:
        return cls.display_name or cls.name

    @classmethod
    def inputs(cls) -> tuple[Parameter, ...]:
        return tuple(p for p in cls.parameters if p.is_input)

    @classmethod
    def outputs(cls) -> tuple[Parameter, ...]:
        return tuple(p for p in cls.parameters if not p.is_input)

    @classmethod
    def parameter(cls, name: str) -> Parameter | None:
        return next((p for p in cls.parameters if p.name == name), None)

    @classmethod
    def import_path(cls) -> str:
        """``module:QualName``, for making the tool anew in a job's process."""
        return f"{cls.__module__}:{cls.__qualname__}"


def check_tool(cls: object) -> type[Tool]:
    """``cls`` if it is a well-declared Tool class; TypeError naming every problem
    otherwise (checked when services are loaded, so a bad tool stops the start)."""
    if not (isinstance(cls, type) and issubclass(cls, Tool)):
        raise TypeError(f"{cls!r} is not a gistasks.gp.Tool class")
    problems: list[str] = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.append(f"its name {name!r} must be a letter then letters, digits or _")
    seen: set[str] = set()
    params = cls.parameters
    if not isinstance(params, tuple | list):
        problems.append("its parameters must be a tuple of Parameter")
        params = ()
    for p in params:
        if not isinstance(p, Parameter):
            problems.append(f"{p!r} is not a Parameter")
            continue
        if not NAME.fullmatch(p.name):
            problems.append(f"parameter {p.name!r}: a name is a letter then letters, digits "
                            f"or _")
        if p.name.lower() in {r.lower() for r in RESERVED}:
            problems.append(f"parameter {p.name!r}: the name is reserved")
        if p.name in seen:
            problems.append(f"parameter {p.name!r} is declared twice")
        seen.add(p.name)
        if not isinstance(p.data_type, GPType):
            problems.append(f"parameter {p.name!r}: its data type must be a GPType")
            continue
        if not p.is_input and (p.required or p.default is not None):
            problems.append(f"output {p.name!r} cannot be required or have a default")
        try:
            for choice in p.choices:
                p.data_type.accept(choice)
            p.default_json()
        except ValueError as exc:
            problems.append(f"parameter {p.name!r}: its default or choices {exc}")
    if problems:
        raise TypeError(f"tool {cls.__module__}.{cls.__qualname__}: " + "; ".join(problems))
    return cls
