"""The errors of the use cases: what went wrong, in words a client can act on.

Each carries the ArcGIS ``code`` it is answered with, a ``message`` and ``details``; the API
renders them in its family's envelope and nothing else. A Python caller catches
:class:`ServiceError` (or one kind of it) and reads the same text.
"""

from __future__ import annotations

from collections.abc import Sequence


class ServiceError(Exception):
    """A request that cannot be done."""

    code = 400

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)

    def __str__(self) -> str:
        return "; ".join([self.message, *self.details])


class InvalidParameterError(ServiceError):
    """A parameter's value cannot be used: ``Invalid 'name'``, with why and what is
    accepted."""

    def __init__(self, name: str, detail: str, message: str | None = None) -> None:
        super().__init__(message or f"Invalid '{name}'", [detail])
        self.param = name


class MissingParameterError(ServiceError):
    """A required parameter was not given: ``'name' must be specified``."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"'{name}' must be specified", [detail])
        self.param = name


class RefusedError(ServiceError):
    """A valid request that the state of things does not allow (a limit is reached, the
    schedule would never fire, …): ``Unable to <operation>`` with the reason."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"Unable to {operation}", [reason])
        self.reason = reason


class NotFoundError(ServiceError):
    """The resource does not exist, or not where the caller looked for it."""

    code = 404

    def __init__(self, message: str) -> None:
        super().__init__(message)


FORBIDDEN = "You do not have permissions to access this resource or perform this operation."


class ForbiddenError(ServiceError):
    """The caller may not do this (ArcGIS's 403)."""

    code = 403

    def __init__(self, message: str = FORBIDDEN) -> None:
        super().__init__(message)


class TokenRequiredError(ServiceError):
    """No token came where one is needed (ArcGIS's 499)."""

    code = 499

    def __init__(self) -> None:
        super().__init__("Token Required")


class InvalidTokenError(ServiceError):
    """A token that is unknown, expired, revoked or bound elsewhere (ArcGIS's 498)."""

    code = 498

    def __init__(self, details: Sequence[str] = ()) -> None:
        super().__init__("Invalid token.", details)
