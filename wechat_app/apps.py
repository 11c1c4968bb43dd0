from importlib import import_module

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class WechatAppConfig(AppConfig):
    name = "wechat_app"
    label = "wechat_app"
    verbose_name = _("WeChat")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connect signal receivers and register system checks.
        from . import checks, receivers  # noqa: F401
        from .conf import app_settings

        # Register code rules and reply hooks (@rule, @before_reply, @after_reply): every
        # installed app's ``wechat_rules`` module, then the modules named in RULE_MODULES.
        autodiscover_modules("wechat_rules")
        for module in app_settings.RULE_MODULES:
            import_module(module)

        # The first request of a process builds the rule indexes in the background (INDEX_WARM_UP);
        # connecting a receiver costs nothing to migrations and commands, which serve no request.
        from django.core.signals import request_started

        from .services.rule_index import warm_on_first_request

        request_started.connect(warm_on_first_request, dispatch_uid="wechat_app.warm_rule_indexes")

        # Followers and delivery reports follow the inbound events; WeCom contacts their change_contact events.
        from . import outbound_receivers, wecom_receivers  # noqa: F401
