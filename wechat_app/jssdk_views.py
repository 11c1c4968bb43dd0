"""A small JSON view returning ``wx.config`` parameters for a page URL (JS-SDK).

GET /wechat/jssdk/<account_name>/?url=https://example.com/page  ->
``{"debug": false, "appId": ..., "timestamp": ..., "nonceStr": ..., "signature": ...}``
Only pages on the account's JS safe domains are signed (400 otherwise), and each client address
gets ``JSSDK_RATE_LIMIT`` answers a minute (429 beyond).
https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html
"""
import logging

from django.http import Http404, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .client import WeChatAPIError, WeChatTransportError
from .models import Account
from .services.jssdk import PageNotAllowed, check_page_url, rate_limited
from .services.tokens import jssdk_config

logger = logging.getLogger("wechat_app.jssdk")


@never_cache
@require_GET
def jssdk_config_view(request, account_name):
    if rate_limited(request.META.get("REMOTE_ADDR", "")):
        response = JsonResponse({"error": "Too many requests; try again in a minute."}, status=429)
        response["Retry-After"] = "60"
        return response
    try:
        account = Account.objects.get(name=account_name, enabled=True)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None
    try:
        url = check_page_url(account, request.GET.get("url", ""))
    except PageNotAllowed as err:
        return JsonResponse({"error": str(err)}, status=400)
    try:
        config = jssdk_config(account, url, debug=request.GET.get("debug") == "true")
    except (WeChatAPIError, WeChatTransportError) as err:
        logger.warning("jsapi_ticket for %s failed: %s", account.name, err)
        return JsonResponse({"error": "WeChat did not deliver a JS-SDK ticket; try again later."}, status=502)
    return JsonResponse(config)
