"""A small JSON view returning ``wx.config`` parameters for a page URL (JS-SDK).

GET /wechat/jssdk/<account_name>/?url=https://example.com/page  ->
``{"debug": false, "appId": ..., "timestamp": ..., "nonceStr": ..., "signature": ...}``
https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html
"""
import logging

from django.http import Http404, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .client import WeChatAPIError
from .models import Account
from .services.tokens import jssdk_config

logger = logging.getLogger("wechat_app.jssdk")
MAX_URL = 2048


@never_cache
@require_GET
def jssdk_config_view(request, account_name):
    try:
        account = Account.objects.get(name=account_name, enabled=True)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None
    url = request.GET.get("url", "")
    if not url.startswith(("http://", "https://")) or len(url) > MAX_URL:
        return JsonResponse({"error": "Give the page address as ?url=http(s)://... (at most 2048 characters)."},
                            status=400)
    try:
        config = jssdk_config(account, url, debug=request.GET.get("debug") == "true")
    except WeChatAPIError as err:
        logger.warning("jsapi_ticket for %s failed: %s", account.name, err)
        return JsonResponse({"error": "WeChat did not deliver a JS-SDK ticket; try again later."}, status=502)
    return JsonResponse(config)
