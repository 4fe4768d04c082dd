"""Domain errors; the server maps each class to one HTTP status in one table."""

from __future__ import annotations


def in_one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (or the type alone), as a run's error names a failure."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class RunyardError(Exception):
    """Something went wrong."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotFound(RunyardError):
    """The resource does not exist."""


class Conflict(RunyardError):
    """The resource exists already or is in a state that forbids this."""


class Invalid(RunyardError):
    """The request is not valid."""


class Unauthenticated(RunyardError):
    """A valid API key is required: send 'Authorization: Bearer <key>'."""


class Forbidden(RunyardError):
    """This key's role does not allow this."""


class CapacityExhausted(RunyardError):
    """No capacity is free and queuing is disabled for this run."""


class Unavailable(RunyardError):
    """A service Runyard depends on (the blob store) cannot be reached; try again."""


class UnsafeArchive(Invalid):
    """The archive is not safe to unpack."""


class Gone(RunyardError):
    """What was asked for existed once and has been removed for good (e.g. pruned events)."""


class NotAvailable(RunyardError):
    """This part of the Nextmv Cloud API is not available on a self-hosted Runyard."""
