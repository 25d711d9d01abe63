"""Errors grouped by what the caller should do, each with a hint for the admin.

- ``ConnectionFailed``: the server could not be reached or the connection was lost; retry later.
- ``ConfigurationError``: a setting is wrong (password, base DN, certificate, file format); retrying
  will not help until an admin changes something.
- ``IncompleteRead``: the read ended before it was provably complete; nothing may be archived.

Every error carries a short ``code`` (stable, for the API and the run history), a ``message`` that
says what happened and a ``hint`` that says what to do. None of them ever contains a secret.
``server`` names the server the error came from, when there was one (a directory URL).
"""

from __future__ import annotations


class SourceError(Exception):
    code = "source_error"
    retryable = False

    def __init__(
        self, message: str, hint: str = "", code: str | None = None, server: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.server = server
        if code:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConnectionFailed(SourceError):
    code = "connection_failed"
    retryable = True


class ConfigurationError(SourceError):
    code = "configuration_error"


class IncompleteRead(SourceError):
    code = "incomplete_read"
    retryable = True
