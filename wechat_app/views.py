"""HTTP views of the app (thin: they validate the transport and hand off to services)."""
from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .conf import app_settings
from .services import inbound

CALLBACK_METHODS = ("GET", "POST")


def _read_body(content_length: str | None, read: Callable[[int], bytes], limit: int) -> bytes:
    """The request body, never reading more than ``limit`` bytes (413 beyond).

    ``content_length`` is the declared CONTENT_LENGTH; ``read(size)`` reads the body, which it
    already bounds to that declared length (Django's LimitedStream, or the fast path's reader).
    """
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise inbound.PayloadTooLarge(f"body of {declared} bytes")
    body = read(limit + 1)
    if len(body) > limit:
        raise inbound.PayloadTooLarge("body larger than the limit")
    return body


def callback_response(method: str, account_name: str, params, content_length: str | None,
                      read: Callable[[int], bytes]) -> inbound.CallbackResponse:
    """The callback's answer to one request, whatever serves it (the Django view below, or the
    WSGI fast path of ``wechat_app.wsgi``): GET verifies the URL, POST delivers a message, any
    other method is 405 (``callback_headers`` adds its Allow), and a refusal becomes a short text
    body with its status (``inbound.status_for_error``). Anything else is a bug and raises.

    ``params`` needs only ``.get(key, default)`` (a QueryDict or a plain dict of last values).
    """
    started = time.perf_counter()
    try:
        if method == "GET":
            return inbound.handle_get(account_name, params)
        if method == "POST":
            body = _read_body(content_length, read, app_settings.MAX_BODY_SIZE)
            return inbound.handle_post(account_name, params, body, started=started)
        return inbound.CallbackResponse(405, b"", inbound.TEXT_CONTENT_TYPE)
    except Exception as err:
        status = inbound.status_for_error(err)
        if status is None:
            raise
        # The reason is short and generic: a caller learns nothing about the account's secrets.
        return inbound.CallbackResponse(status, f"{status} {type(err).__name__}".encode(), inbound.TEXT_CONTENT_TYPE)


def callback_headers(result: inbound.CallbackResponse) -> list[tuple[str, str]]:
    """Headers of a callback answer beyond its content type (a 405 names the allowed methods)."""
    if result.status == 405:
        return [("Allow", ", ".join(CALLBACK_METHODS))]
    return []


@csrf_exempt
def callback(request, account_name):
    """WeChat's callback URL for one account: GET verifies the URL, POST delivers a message.

    https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
    """
    result = callback_response(request.method, account_name, request.GET, request.META.get("CONTENT_LENGTH"),
                               request.read)
    response = HttpResponse(result.body, status=result.status, content_type=result.content_type)
    for name, value in callback_headers(result):
        response[name] = value
    return response
