"""System checks with stable ids (``wechat_app.E001`` ...)."""
from django.core.checks import Error, register

from .conf import app_settings


@register()
def check_settings(app_configs, **kwargs):
    errors = []
    try:
        window = app_settings.TIMESTAMP_WINDOW
        size = app_settings.MAX_BODY_SIZE
    except Exception as err:  # ImproperlyConfigured: unknown names, wrong type
        return [Error(str(err), id="wechat_app.E001")]
    if not isinstance(window, int) or window < 0:
        errors.append(Error("WECHAT_APP['TIMESTAMP_WINDOW'] must be a non-negative integer (seconds).",
                            id="wechat_app.E002"))
    if not isinstance(size, int) or size <= 0:
        errors.append(Error("WECHAT_APP['MAX_BODY_SIZE'] must be a positive integer (bytes).",
                            id="wechat_app.E003"))
    return errors
