from django.urls import include, path, register_converter

from . import views, web_views
from .jssdk_views import jssdk_config_view
from .models.accounts import name_validator

app_name = "wechat_app"


class AccountNameConverter:
    """An account name as the model allows it (``name_validator``): any other path, a NUL byte
    or a slash included, is a 404 before anything looks it up."""

    regex = name_validator.regex.pattern.removeprefix("^").removesuffix("$")

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(AccountNameConverter, "wechat_account")

urlpatterns = [
    path("callback/<wechat_account:account_name>/", views.callback, name="callback"),
    path("api/", include("wechat_app.api.urls")),
    path("jssdk/<wechat_account:account_name>/", jssdk_config_view, name="jssdk_config"),
    path("oauth/<wechat_account:account_name>/login/", web_views.oauth_login, name="oauth_login"),
    path("oauth/<wechat_account:account_name>/callback/", web_views.oauth_callback, name="oauth_callback"),
]
