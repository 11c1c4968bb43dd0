"""Template tags for an account's H5 pages (``{% load wechat_web %}``).

``{% wechat_jssdk_config account %}`` gives the page ``wx.config`` in one line: it signs the
current page's URL (or the one given) on the server and emits the configuration with the small
helper ``wechat_app/web/jssdk.js``, which calls ``wx.config`` as soon as WeChat's JS-SDK is
there. ``apis`` lists the JS-SDK calls the page uses; ``sdk=True`` also loads WeChat's SDK::

    {% wechat_jssdk_config "shop" apis="updateAppMessageShareData,updateTimelineShareData" sdk=True %}

The page's host must be one of the account's JS safe domains. A page that cannot be signed
(another host, WeChat down) gets the configuration with an ``error`` instead, never a 500.
"""
from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.utils.html import format_html, json_script

from ..client import WeChatAPIError, WeChatTransportError
from ..models import Account
from ..services.jssdk import PageNotAllowed, check_page_url
from ..services.tokens import jssdk_config

register = template.Library()

WECHAT_SDK = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
DEFAULT_APIS = "updateAppMessageShareData,updateTimelineShareData"


def signed_config(account, url: str, apis: str = DEFAULT_APIS, debug: bool = False) -> dict:
    """The ``wx.config`` object for ``url``, or ``{"error": ...}``."""
    if isinstance(account, str):
        account = Account.objects.filter(name=account, enabled=True).first()
    if account is None:
        return {"error": "No such WeChat account."}
    try:
        config = jssdk_config(account, check_page_url(account, url), debug=debug)
    except PageNotAllowed as err:
        return {"error": str(err)}
    except (WeChatAPIError, WeChatTransportError):
        return {"error": "WeChat did not deliver a JS-SDK ticket; try again later."}
    config["jsApiList"] = [name.strip() for name in apis.split(",") if name.strip()]
    return config


@register.simple_tag(takes_context=True)
def wechat_jssdk_config(context, account, url=None, apis=DEFAULT_APIS, sdk=False, debug=False):
    request = context.get("request")
    if url is None:
        url = request.build_absolute_uri() if request is not None else ""
    config = signed_config(account, url, apis, debug=bool(debug))
    parts = [json_script(config, "wechat-jssdk-config")]
    if sdk:
        parts.append(format_html('<script src="{}"></script>', WECHAT_SDK))
    parts.append(format_html('<script src="{}"></script>', static("wechat_app/web/jssdk.js")))
    return format_html("\n".join(["{}"] * len(parts)), *parts)
