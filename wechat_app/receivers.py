"""Signal receivers of the app itself (connected in AppConfig.ready by importing this module)."""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Account, Rule
from .services.rules import bump_rules_version


@receiver(post_save, sender=Rule, dispatch_uid="wechat_app.rule_saved")
@receiver(post_delete, sender=Rule, dispatch_uid="wechat_app.rule_deleted")
def rule_changed(sender, instance, **kwargs):
    """A rule changed: every process rebuilds the account's compiled index on its next message."""
    bump_rules_version(instance.account_id)


@receiver(post_save, sender=Account, dispatch_uid="wechat_app.account_saved")
@receiver(post_delete, sender=Account, dispatch_uid="wechat_app.account_deleted")
def account_changed(sender, instance, **kwargs):
    """Code rules may be limited to account names, so renaming an account changes its rules."""
    bump_rules_version(instance.pk)
