"""Every error the API returns is JSON ``{"code", "message", "hint"}`` (and ``errors`` for invalid
fields), with the status that says what the caller should do; never a traceback.

- 401 ``unauthenticated``, 403 ``forbidden`` / ``csrf_failed``, 404 ``not_found``;
- 409 ``run_refused`` (the run's state does not allow it) and ``in_use``;
- 422 ``invalid`` (the request's values), or the source error's code for a source setting;
- 502 the source error's code when the directory could not be read (retry later);
- 500 ``internal_error``: logged with its traceback on the server, never sent.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as ModelValidationError
from django.db.models import ProtectedError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError

from usersync.app.sync.runs import RunRefused
from usersync.connectors.errors import SourceError
from usersync.core.normalize import FieldError

from .auth import CsrfFailed

log = logging.getLogger("usersync.api")

STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 422: "invalid", 429: "throttled"}


def error_body(code: str, message: str, hint: str = "", errors: list | None = None) -> dict:
    return {"code": code, "message": message, "hint": hint, "errors": errors or []}


def _field(loc) -> str:
    """Where a request validation error is, as the caller wrote it: ``("body", "payload",
    "schedule_hours")`` is ``schedule_hours`` (the body's parameter name is ours, not theirs)."""
    parts = [str(part) for part in loc]
    if parts[:1] == ["body"]:
        parts = parts[2:] or parts[1:]
    return ".".join(parts)


def register(api: NinjaAPI) -> None:
    def reply(request, status: int, *args, **kwargs):
        return api.create_response(request, error_body(*args, **kwargs), status=status)

    @api.exception_handler(RequestValidationError)
    def invalid_request(request, exc: RequestValidationError):
        problems = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "is not valid")}
                    for e in exc.errors]
        first = problems[0] if problems else {"field": "", "message": "is not valid"}
        return reply(request, 422, "invalid", f"{first['field']}: {first['message']}",
                     "correct the fields listed in errors", problems)

    @api.exception_handler(FieldError)
    def invalid_field(request, exc: FieldError):
        return reply(request, 422, "invalid", f"{exc.field}: {exc.message}",
                     "correct the field and send the request again",
                     [{"field": exc.field, "message": exc.message}])

    @api.exception_handler(ModelValidationError)
    def invalid_model(request, exc: ModelValidationError):
        if hasattr(exc, "error_dict"):
            problems = [{"field": f, "message": m}
                        for f, ms in exc.message_dict.items() for m in ms]
        else:
            problems = [{"field": "", "message": m} for m in exc.messages]
        first = problems[0] if problems else {"field": "", "message": "is not valid"}
        return reply(request, 422, "invalid", f"{first['field']}: {first['message']}".lstrip(": "),
                     "correct the fields listed in errors", problems)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        return reply(request, 401, "unauthenticated", "authentication is required",
                     "send 'Authorization: Bearer <API key>', or log in to the portal")

    @api.exception_handler(CsrfFailed)
    def csrf_failed(request, exc):
        return reply(request, 403, "csrf_failed", "CSRF check failed",
                     "send the csrftoken cookie's value in the X-CSRFToken header, "
                     "or use an API key")

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return reply(request, 403, "forbidden", str(exc) or "you may not do this",
                     "ask an admin of the organization, or use a key with the needed scope")

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return reply(request, 404, "not_found", str(exc) or "not found",
                     "check the id; you only see the organizations you belong to")

    @api.exception_handler(RunRefused)
    def run_refused(request, exc):
        return reply(request, 409, "run_refused", str(exc), "reload the run and try again")

    @api.exception_handler(ProtectedError)
    def in_use(request, exc):
        return reply(request, 409, "in_use", "it is still in use", "remove what uses it first")

    @api.exception_handler(SourceError)
    def source_error(request, exc: SourceError):
        return reply(request, 502 if exc.retryable else 422, exc.code, exc.message, exc.hint)

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        return reply(request, exc.status_code, STATUS_CODES.get(exc.status_code, "error"),
                     str(exc.message))

    @api.exception_handler(Exception)
    def internal_error(request, exc):
        log.exception("internal error on %s %s", request.method, request.path)
        return reply(request, 500, "internal_error", "an internal error occurred",
                     "this is a bug in usersync; the details are in the server's log")
