"""One JSON shape for every error the API answers (docs/api.md, the ``Error`` schema component)::

    {"error": {"code": "invalid", "message": "name: This field is required.",
               "fields": {"name": ["This field is required."]}}}

- ``code``: stable and machine-readable: ``invalid`` (400, with ``fields``), ``parse_error``,
  ``not_authenticated`` / ``authentication_failed`` (401), ``permission_denied`` /
  ``read_only_token`` (403), ``not_found`` (404), ``method_not_allowed`` (405),
  ``not_acceptable`` (406), ``conflict`` (409: not in the object's present state),
  ``idempotency_key_reused`` (422), ``unsupported_media_type`` (415), ``payload_too_large`` (413),
  ``throttled`` (429, with ``retry_after`` seconds and the Retry-After header), ``server_error``
  (500), and the codes of particular operations (``wechat_refused``, ``wechat_unavailable``...).
- ``message``: for people; for a validation error, the first problem, prefixed by its field.
- ``fields``: (validation errors only) DRF's messages by field, as precise as the admin's, nested
  as the request body is (``{"replies": [...]}``, ``{"follow_ups": [{}, {"name": [...]}]}``);
  problems of the body as a whole are under ``non_field_errors``.

An operation may add members of its own (a failed menu publish adds the ``version`` it recorded).
"""
from __future__ import annotations

import logging

from django.core import signals
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("wechat_app.api")

SERVER_ERROR = "A server error occurred; it was logged. Try again later."


class ReadOnlyToken(exceptions.PermissionDenied):
    default_detail = "This API token is read-only: it may only read (GET, HEAD and OPTIONS requests)."
    default_code = "read_only_token"


class Conflict(exceptions.APIException):
    """409: the operation does not apply to the object in its present state (a campaign that is
    not a draft, a message that did not fail...); the message says why and what would apply."""
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The operation does not apply to the object as it is now."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def _first_message(detail, path="") -> str:
    """``name: This field is required.`` for the first leaf of a nested error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            found = _first_message(value, key if not path else f"{path}.{key}")
            if found:
                return found
        return ""
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            nested = isinstance(value, (dict, list))
            found = _first_message(value, f"{path}[{index}]" if nested and path else path)
            if found:
                return found
        return ""
    text = str(detail)
    if not text:
        return ""
    return text if path in ("", "non_field_errors") else f"{path}: {text}"


def _plain(detail):
    """DRF's ErrorDetail tree as plain JSON values."""
    if isinstance(detail, dict):
        return {str(key): _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(value) for value in detail]
    return str(detail)


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def body_for(exc: exceptions.APIException) -> dict:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return error_body("invalid", _first_message(fields) or "Invalid input.", fields=_plain(fields))
    if isinstance(detail, dict) and "error" in detail and isinstance(detail["error"], dict):
        return _plain(detail)  # already in shape (see ``APIError``)
    code = getattr(detail, "code", None) or exc.default_code
    message = _first_message(detail) or str(exc.default_detail)
    extra = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        extra["retry_after"] = int(exc.wait + 0.999)
    return error_body(str(code), message, **extra)


class APIError(exceptions.APIException):
    """An error with members of its own besides code and message (``extra``)."""

    def __init__(self, status_code: int, code: str, message: str, **extra):
        self.status_code = status_code
        super().__init__(detail={"error": {"code": code, "message": message, **extra}})


def exception_handler(exc, context):
    """DRF's handler (headers: WWW-Authenticate, Retry-After, Allow), then the one error shape; any
    other exception is logged and answered 500 in the same shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*(exc.args[:1] or ()))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*(exc.args[:1] or ()))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "Suspicious request.")
    response = drf_exception_handler(exc, context)
    if response is None:
        request = context.get("request")
        logger.error("API error in %s %s", getattr(request, "method", "?"), getattr(request, "path", "?"),
                     exc_info=exc)
        # What Django does for an unhandled exception: error reporting (and the test client) see it.
        django_request = getattr(request, "_request", None)
        signals.got_request_exception.send(sender=None, request=django_request)
        return Response(error_body("server_error", SERVER_ERROR), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, exceptions.APIException):
        response.data = body_for(exc)
    return response


def not_found(request, *args, **kwargs):
    """The answer to a path under the API that names no endpoint (instead of Django's HTML 404)."""
    message = "No API endpoint at this path."
    if not request.path.endswith("/"):
        message += " The API's paths end with a slash."
    return JsonResponse(error_body("not_found", message), status=404)


def server_error_body() -> dict:
    return error_body("server_error", SERVER_ERROR)
