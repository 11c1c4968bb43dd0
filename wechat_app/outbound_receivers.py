"""Receivers of the outbound side: follower events, template and mass-send delivery reports.

Connected to ``signals.message_received`` (imported in AppConfig.ready). A failure here is
logged and never breaks the callback's answer.
"""
import logging

from django.dispatch import receiver

from .signals import message_received

logger = logging.getLogger("wechat_app.outbound")


@receiver(message_received, dispatch_uid="wechat_app.outbound.on_message")
def on_message(sender, account, message, **kwargs):
    if not message.is_event:
        return
    from .services import outbound

    event = (message.event or "").lower()
    try:
        if event == "subscribe":
            outbound.follower_subscribed(account, message.uid, message.create_time)
        elif event == "unsubscribe":
            outbound.follower_unsubscribed(account, message.uid, message.create_time)
        elif event == "templatesendjobfinish":
            outbound.handle_template_job_finish(account, message)
        elif event == "masssendjobfinish":
            from .services.mass import handle_mass_job_finish

            handle_mass_job_finish(account, message)
    except Exception:  # the callback must still answer WeChat
        logger.exception("outbound receiver failed for %s event of %s", event, account)
