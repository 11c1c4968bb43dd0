"""Signal receivers of the app itself (connected in AppConfig.ready by importing this module)."""
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from .models import Account, AgentSettings, Rule
from .models.accounts import CREDENTIAL_FIELDS
from .services.accounts import bump_accounts_version
from .services.rules import bump_rules_version
from .services.tokens import forget_credentials
from .signals import reply_sent


@receiver(post_save, sender=Rule, dispatch_uid="wechat_app.rule_saved")
@receiver(post_delete, sender=Rule, dispatch_uid="wechat_app.rule_deleted")
def rule_changed(sender, instance, **kwargs):
    """A rule changed: every process rebuilds the account's compiled index on its next message."""
    bump_rules_version(instance.account_id)


@receiver(post_save, sender=Account, dispatch_uid="wechat_app.account_saved")
@receiver(post_delete, sender=Account, dispatch_uid="wechat_app.account_deleted")
def account_changed(sender, instance, **kwargs):
    """Every process reloads accounts; code rules may be limited to account names, so renaming
    an account changes its rules too."""
    bump_accounts_version()
    bump_rules_version(instance.pk)


@receiver(post_save, sender=AgentSettings, dispatch_uid="wechat_app.agent_settings_saved")
@receiver(post_delete, sender=AgentSettings, dispatch_uid="wechat_app.agent_settings_deleted")
def agent_settings_changed(sender, instance, **kwargs):
    """The callback serves accounts with their agent settings: every process reloads them."""
    bump_accounts_version()


@receiver(pre_save, sender=Account, dispatch_uid="wechat_app.account_credentials_before_save")
def remember_stored_credentials(sender, instance, raw=False, update_fields=None, **kwargs):
    """Note which credentials the row had before this save (see ``drop_replaced_credentials``)."""
    instance._stored_credentials = None
    if raw or instance.pk is None or (update_fields is not None and not set(update_fields) & set(CREDENTIAL_FIELDS)):
        return
    stored = Account.objects.filter(pk=instance.pk).only(*CREDENTIAL_FIELDS).first()
    if stored is not None:
        instance._stored_credentials = stored.credentials_fingerprint()


@receiver(post_save, sender=Account, dispatch_uid="wechat_app.account_credentials_saved")
def drop_replaced_credentials(sender, instance, **kwargs):
    """New app id, secret or API base URL: the token and tickets of the old ones are dropped
    (whether the change came from the admin, the REST API or a command)."""
    stored = getattr(instance, "_stored_credentials", None)
    if stored is not None and stored != instance.credentials_fingerprint():
        forget_credentials(instance, stored)


@receiver(post_delete, sender=Account, dispatch_uid="wechat_app.account_credentials_deleted")
def drop_deleted_credentials(sender, instance, **kwargs):
    forget_credentials(instance)


@receiver(reply_sent, dispatch_uid="wechat_app.fetch_incoming_media")
def fetch_incoming_media(sender, account, message, log=None, **kwargs):
    """A media message was logged: queue the fetch of its file (FETCH_INCOMING_MEDIA)."""
    from .services.media import message_logged

    message_logged(account, message, log)
