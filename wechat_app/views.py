"""HTTP views of the app (thin: they validate the transport and hand off to services)."""
from __future__ import annotations

import time

from django.http import HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from .conf import app_settings
from .services import inbound


def _read_body(request, limit: int) -> bytes:
    """The request body, never reading more than ``limit`` bytes (413 beyond)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise inbound.PayloadTooLarge(f"body of {declared} bytes")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise inbound.PayloadTooLarge("body larger than the limit")
    return body


@csrf_exempt
def callback(request, account_name):
    """WeChat's callback URL for one account: GET verifies the URL, POST delivers a message.

    https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
    """
    started = time.perf_counter()
    try:
        if request.method == "GET":
            result = inbound.handle_get(account_name, request.GET)
        elif request.method == "POST":
            body = _read_body(request, app_settings.MAX_BODY_SIZE)
            result = inbound.handle_post(account_name, request.GET, body, started=started)
        else:
            return HttpResponseNotAllowed(["GET", "POST"])
    except Exception as err:
        status = inbound.status_for_error(err)
        if status is None:
            raise
        # The reason is short and generic: a caller learns nothing about the account's secrets.
        return HttpResponse(f"{status} {type(err).__name__}", status=status, content_type=inbound.TEXT_CONTENT_TYPE)
    return HttpResponse(result.body, status=result.status, content_type=result.content_type)
