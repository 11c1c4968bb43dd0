"""Store every rule reply in its typed form ({"type": "text", "content": ...}).

The REST API used to store replies as sent, so a plain string (``"replies": ["text"]``) stayed a
string and made the account's rule export fail. New rules are normalized on write; this fixes
the rows written before.
"""
from django.db import migrations


def typed(replies):
    if replies in (None, ""):
        return []
    if not isinstance(replies, list):
        replies = [replies]
    return [{"type": "text", "content": item} if isinstance(item, str) else item for item in replies]


def normalize_replies(apps, schema_editor):
    Rule = apps.get_model("wechat_app", "Rule")
    for rule in Rule.objects.only("pk", "replies").iterator():
        fixed = typed(rule.replies)
        if fixed != rule.replies:
            Rule.objects.filter(pk=rule.pk).update(replies=fixed)


class Migration(migrations.Migration):
    dependencies = [("wechat_app", "0006_account_app_id_unique_per_api_credentials_permission")]

    operations = [migrations.RunPython(normalize_replies, migrations.RunPython.noop)]
