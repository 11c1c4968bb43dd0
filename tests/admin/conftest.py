import pytest
from django.contrib.auth.models import Permission

from wechat_app.models import Account, AccountMembership, MessageLog, Rule

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def make_account(name, **kwargs):
    defaults = dict(app_id=f"wx{name}0001", app_secret=f"secret-{name}-0123456789abcdef", token=f"tok{name}123",
                    encoding_aes_key=AES_KEY, encrypt_mode="safe")
    defaults.update(kwargs)
    return Account.objects.create(name=name, **defaults)


def make_rule(account, name, value="hi", reply="Hello", **kwargs):
    defaults = dict(match_kind="contains", match_value=value, replies=[{"type": "text", "content": reply}])
    defaults.update(kwargs)
    return Rule.objects.create(account=account, name=name, **defaults)


_counter = {"n": 0}


def make_log(account, user="u1", text="hi", rule=None, status="replied", msg_type="text", latency=None, **kwargs):
    _counter["n"] += 1
    return MessageLog.objects.create(
        account=account, dedupe_key=f"k{_counter['n']}", user=user, msg_type=msg_type, text=text, rule=rule,
        rule_name=rule.name if rule else "", status=status, latency_ms=latency,
        reply={"type": "text", "content": "Hello"} if rule else None, **kwargs)


@pytest.fixture
def account_a(db):
    return make_account("alpha")


@pytest.fixture
def account_b(db):
    return make_account("beta")


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345")


@pytest.fixture
def staff_a(django_user_model, account_a):
    """A staff user granted account alpha only, with the usual operator permissions."""
    user = django_user_model.objects.create_user("op", "op@example.com", "pw-op-12345", is_staff=True)
    codenames = ["view_rule", "add_rule", "change_rule", "delete_rule", "view_messagelog", "view_account",
                 "change_account"]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app",
                                                        codename__in=codenames))
    AccountMembership.objects.create(user=user, account=account_a)
    return user


@pytest.fixture
def admin_client_(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def staff_client(client, staff_a):
    client.force_login(staff_a)
    return client
