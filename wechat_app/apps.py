from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WechatAppConfig(AppConfig):
    name = "wechat_app"
    label = "wechat_app"
    verbose_name = _("WeChat")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connect signal receivers and register system checks.
        from . import checks, receivers  # noqa: F401
        from . import outbound_receivers  # noqa: F401
