"""Who may do what, in one table: user × action × expected answer, run against the admin AND the REST API.

Every action targets account ``alpha`` (A) or one of its objects. The answers:

- ``ALLOW``: done (and its effect is checked: the row exists, changed, is gone);
- ``DENY``: refused for lack of a model permission (403; 405 for what the API does not offer),
  whatever the account;
- ``HIDDEN``: the user may do this in principle, but A is not theirs: it answers as if A did not
  exist (API 404 or an unknown-account field error; admin 404, "does not exist" redirect, or A
  absent from a list);
- ``LOGIN``: anonymous (API 401, or 403 "not provided" with session authentication first; admin
  redirect to the login page).

Whatever is not ``ALLOW`` must change nothing. To add an action: a row in ``TABLE`` and one function
per surface in ``ADMIN`` and ``API``. A cell is one answer, or ``{"admin": ..., "api": ...}`` where
the two surfaces deliberately differ.

The ``token`` surface runs the API's functions again with an API token of each user instead of a
session (the same answers), and with the tokens only an API has (``TOKEN_CASES``): editor_a's
read-only token, a superuser's token limited to account B, a revoked and an expired token of editor_a.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from wechat_app.models import (
    Account,
    AccountMembership,
    Follower,
    KfAccount,
    MassMessage,
    Menu,
    MenuVersion,
    MessageLog,
    Rule,
    Tag,
    WeComMember,
    WeComTag,
)
from wechat_app.models import Account, AccountMembership, Material, Menu, MenuVersion, MessageLog, Rule
from wechat_app.sandbox.testing import running_sandbox

pytestmark = pytest.mark.django_db

ALLOW, DENY, HIDDEN, LOGIN = "allow", "deny", "hidden", "login"
USERS = ("superuser", "editor_a", "viewer_a", "editor_b", "anonymous")

EDITOR_PERMS = ["view_rule", "add_rule", "change_rule", "delete_rule", "view_messagelog", "view_account",
                "change_account", "view_menu", "add_menu", "change_menu", "delete_menu", "view_menuversion",
                "view_outboundmessage", "add_outboundmessage", "change_outboundmessage", "view_template",
                "change_template", "view_campaign", "add_campaign", "change_campaign", "view_follower",
                "change_follower", "view_tag", "add_tag", "change_tag", "delete_tag", "view_massmessage",
                "add_massmessage", "change_massmessage", "view_kfaccount", "add_kfaccount",
                "view_qrcode", "add_qrcode", "change_qrcode", "delete_qrcode", "view_material", "add_material",
                "change_material", "delete_material", "view_wecommember", "add_wecommember", "change_wecommember",
                "delete_wecommember", "view_wecomtag", "add_wecomtag", "change_wecomtag", "delete_wecomtag",
                "view_agentevent", "change_agentevent", "view_ilinkbot", "change_ilinkbot", "view_ilinklogin",
                "add_ilinklogin", "change_ilinklogin"]
VIEWER_PERMS = ["view_rule", "view_messagelog", "view_account", "view_menu", "view_menuversion",
                "view_outboundmessage", "view_template", "view_campaign", "view_follower", "view_tag",
                "view_massmessage", "view_kfaccount", "view_qrcode", "view_material", "view_wecommember",
                "view_wecomtag", "view_agentevent", "view_ilinkbot", "view_ilinklogin"]

TABLE = {
    #                      superuser  editor_a  viewer_a  editor_b  anonymous
    "account.list":        (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "account.view":        (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "account.create":      (ALLOW,    DENY,     DENY,     DENY,     LOGIN),
    "account.change":      (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "account.delete":      (ALLOW,    DENY,     DENY,     DENY,     LOGIN),
    "rule.list":           (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "rule.view":           (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "rule.create":         (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "rule.change":         (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "rule.delete":         (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "log.list":            (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "log.view":            (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "log.create":          (DENY,     DENY,     DENY,     DENY,     LOGIN),
    "log.change":          (DENY,     DENY,     DENY,     DENY,     LOGIN),
    # The log is the record of what happened: only superusers prune it, in the admin; the REST log is read-only.
    "log.delete":          ({"admin": ALLOW, "api": DENY}, DENY, DENY, DENY, LOGIN),
    # Answering a message without sending or logging it (the admin's simulator, the API's rules/test/).
    "rule.test":           (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    # One user's thread, and the dashboard's figures (the admin's dashboard, the API's messages/stats/).
    "log.conversation":    (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "log.stats":           (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "rules.import_dry_run": (ALLOW,   ALLOW,    DENY,     HIDDEN,   LOGIN),
    "rules.import":        (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "rules.export":        (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    # Custom menus (issue 9): publishing, pulling, rolling back and deleting the live menu change the menu.
    "menu.list":           (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "menu.view":           (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "menu.create":         (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "menu.change":         (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "menu.delete":         (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "menu.publish":        (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "menus.pull":          (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "menus.delete_live":   (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "menus.trymatch":      (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "menuversion.list":    (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "menuversion.view":    (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "menuversion.diff":    (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "menuversion.rollback": (ALLOW,   ALLOW,    DENY,     HIDDEN,   LOGIN),
    # The outbound side (issue 10): the admin's send is the conversation reply; syncs and campaign
    # operations need the change permission.
    "outbound.list":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "outbound.view":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "outbound.send":       (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "outbound.resend":     (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    # WeCom app messages (issue 16): alpha made a WeCom app for the action; sending needs add_outboundmessage.
    "outbound.wecom_send": (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "template.list":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "template.view":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "template.sync":       (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "campaign.list":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "campaign.view":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "campaign.create":     (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "campaign.start":      (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "campaign.cancel":     (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "follower.list":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "follower.view":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "follower.sync":       (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    # Tags, mass send, kf accounts (issue 13): tagging followers needs change_follower, sending change_massmessage.
    "tag.list":            (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "tag.create":          (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "tag.tag_followers":   (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "mass.create":         (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "mass.send":           (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "kf.list":             (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    # QR codes (issue 14): creating one asks WeChat for it.
    "qrcode.list":         (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "qrcode.view":         (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "qrcode.png":          (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "qrcode.create":       (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "qrcode.change":       (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "qrcode.delete":       (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    # The material library (issue 13): upload, sync and delete talk to WeChat; files only to who may view.
    # The agent gateway (issue 15): the inbox's events; retrying and releasing change them; the agent's
    # replies need add_outboundmessage (the admin's counterpart is the conversation reply).
    "agentevent.list":     (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "agentevent.view":     (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "agentevent.retry":    (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "agentevent.release":  (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "agent.send":          (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    # An account's agent settings (the admin's account form inline, the API's accounts/{name}/agent/):
    # part of the account, so view_account reads them and change_account writes them.
    "agentsettings.view":  (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "agentsettings.change": (ALLOW,   ALLOW,    DENY,     HIDDEN,   LOGIN),
    "material.list":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "material.view":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "material.file":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "material.upload":     (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "material.sync":       (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "material.delete":     (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    # WeCom contacts (issue 16): changes go to WeCom first; alpha is made a WeCom app for the writes.
    "wecom_member.list":   (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "wecom_member.create": (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "wecom_member.delete": (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "wecom_tag.create":    (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    # iLink bots (issue 15): switching polling needs change_ilinkbot; a QR login is seen with its account.
    "ilinkbot.list":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "ilinkbot.view":       (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
    "ilinkbot.poll_stop":  (ALLOW,    ALLOW,    DENY,     HIDDEN,   LOGIN),
    "ilinklogin.view":     (ALLOW,    ALLOW,    ALLOW,    HIDDEN,   LOGIN),
}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63"
                    "fccfc0500f000485018084a98c210000000049454e44ae426082")  # a 1x1 PNG

RULE_FILE = "- name: imported\n  match: {exact: imported}\n  reply: Imported!\n"
MENU_BUTTONS = [{"type": "click", "name": "Today", "key": "TODAY"}]


@dataclass
class World:
    a: Account
    b: Account
    rule: Rule
    log: MessageLog
    menu: Menu
    version: MenuVersion
    material: Material

    def rule_exists(self, **fields):
        return Rule.objects.filter(account=self.a, **fields).exists()


@pytest.fixture
def world(settings, tmp_path):
    def account(name):
        return Account.objects.create(name=name, app_id=f"wx{name}0001", app_secret=f"secret-{name}-0123456789",
                                      token=f"tok{name}123", encrypt_mode="plain")

    a, b = account("alpha"), account("beta")
    rule = Rule.objects.create(account=a, name="rule-alpha", match_kind="contains", match_value="hi",
                               replies=[{"type": "text", "content": "Hello"}])
    log = MessageLog.objects.create(account=a, dedupe_key="k-alpha", user="user-alpha", msg_type="text",
                                    text="alpha text", status="replied")
    menu = Menu.objects.create(account=a, name="menu-alpha", buttons=MENU_BUTTONS)
    version = MenuVersion.objects.create(account=a, menu=menu, number=1, document={"button": MENU_BUTTONS},
                                         status="published")
    settings.MEDIA_ROOT = str(tmp_path)
    from django.core.files.base import ContentFile

    from wechat_app.services.media import storage

    path = storage().save("wechat_media/alpha.png", ContentFile(PNG))
    material = Material.objects.create(account=a, media_id="material-alpha", kind="image", name="material-alpha.png",
                                       local_path=path, content_type="image/png")
    world = World(a, b, rule, log, menu, version, material)
    world.tag = Tag.objects.create(account=a, tag_id=100, name="tag-alpha")
    world.follower = Follower.objects.create(account=a, openid="ofolloweralpha1")
    world.mass = MassMessage.objects.create(account=a, name="mass-alpha", audience="all", kind="text",
                                            content={"content": "Hello"})
    world.kf = KfAccount.objects.create(account=a, kf_account="kfalpha@gh_alpha", nickname="Alpha")
    world.wecom_member = WeComMember.objects.create(account=a, userid="member-alpha", name="Member Alpha",
                                                    departments=[1])
    return world


@contextlib.contextmanager
def wechat_for(account):
    """The menu actions talk to WeChat: ``account`` talks to a sandbox of its own meanwhile."""
    with running_sandbox() as sandbox:
        sandbox.state.add_app(account.app_id, account.app_secret)
        Account.objects.filter(pk=account.pk).update(api_base_url=sandbox.url)
        yield sandbox


# Token-only cases: (owner, how the answer follows from the owner's).
TOKEN_CASES = {"readonly_a": "editor_a", "limited_b": "superuser", "revoked_a": "editor_a", "expired_a": "editor_a"}
# The actions that only read (a read-only token may do them), named by what they do: derived, not
# listed by hand, so the reads a later branch adds are covered.
READ_VERBS = {"list", "view", "export", "diff", "png", "file", "conversation", "stats", "test"}
READS = {action for action in TABLE if action.split(".", 1)[1] in READ_VERBS}


def token_login(client, who, world):
    """``client`` sending an API token of ``who`` (a user of ``USERS`` or a ``TOKEN_CASES`` case)."""
    from datetime import timedelta

    from django.utils import timezone

    from wechat_app.models import ApiToken
    from wechat_app.services.api_tokens import create_token

    if who == "anonymous":
        return client
    owner = login(client, TOKEN_CASES.get(who, who), world, session=False)
    accounts = [world.b] if who == "limited_b" else []
    token, key = create_token(owner, f"token of {who}", accounts=accounts, read_only=who == "readonly_a")
    if who == "revoked_a":
        token.revoke()
    if who == "expired_a":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def token_expected(action, who):
    if who in ("revoked_a", "expired_a"):
        return LOGIN
    if who == "readonly_a":
        return expected(action, "editor_a", "api") if action in READS else DENY
    if who == "limited_b":
        if action == "account.create":
            return DENY  # a token limited to accounts cannot add one (it could not see it)
        want = expected(action, "superuser", "api")
        return HIDDEN if want == ALLOW else want
    return expected(action, who, "api")


def login(client, who, world, session=True):
    if who == "anonymous":
        return client
    users = get_user_model().objects
    if who == "superuser":
        user = users.create_superuser("root", "root@example.com", None)  # no password: no slow hashing
    else:
        user = users.create_user(who, password=None, is_staff=True)
        perms = VIEWER_PERMS if who.startswith("viewer") else EDITOR_PERMS
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app",
                                                            codename__in=perms))
        AccountMembership.objects.create(user=user, account=world.a if who.endswith("_a") else world.b)
    if not session:
        return user
    client.force_login(user)
    return client


# ---- the admin ------------------------------------------------------------------------------------

def admin_answer(resp, *, listed=None, form_errors=None, hidden_field="account"):
    """Classify an admin response (see the module docstring)."""
    location = resp.get("Location", "")
    if resp.status_code == 302 and location.startswith("/admin/login/"):
        return LOGIN
    if resp.status_code == 403:
        return DENY
    if resp.status_code == 404:
        return HIDDEN
    if resp.status_code == 302:
        # The admin's answer for an object it does not show: "… doesn't exist. Perhaps it was deleted?"
        notes = [str(m) for m in get_messages(resp.wsgi_request)]
        return HIDDEN if any("exist" in note for note in notes) else ALLOW
    if resp.status_code == 200:
        if listed is not None:
            return ALLOW if listed else HIDDEN
        if form_errors is not None:
            errors = form_errors(resp)
            if errors:
                return HIDDEN if set(errors) == {hidden_field} else f"form errors {dict(errors)}"
        return ALLOW
    return f"unexpected {resp.status_code}"


def _change_form_errors(resp):
    return resp.context["adminform"].form.errors if resp.context and "adminform" in resp.context else {}


def _account_post(account, **changes):
    data = {"name": account.name, "app_id": account.app_id, "app_secret": "", "token": "", "encoding_aes_key": "",
            "encrypt_mode": account.encrypt_mode, "api_base_url": "", "enabled": "on",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0", "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            # The agent gateway's settings (an inline of at most one form).
            "agent_settings-TOTAL_FORMS": "0", "agent_settings-INITIAL_FORMS": "0",
            "agent_settings-MIN_NUM_FORMS": "0", "agent_settings-MAX_NUM_FORMS": "1"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def _rule_post(account, **changes):
    from tests.admin.helpers import rule_post

    return rule_post(account, **changes)


def admin_account_list(c, w):
    resp = c.get("/admin/wechat_app/account/")
    return admin_answer(resp, listed=resp.status_code == 200 and ">alpha<" in resp.content.decode()), None


def admin_account_view(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/account/{w.a.pk}/change/")), None


def admin_account_create(c, w):
    data = _account_post(Account(name="gamma", app_id="wxgamma0001", encrypt_mode="plain"),
                         app_secret="secret-gamma-0123", token="tokgamma1")
    resp = c.post("/admin/wechat_app/account/add/", data)
    return admin_answer(resp, form_errors=_change_form_errors), Account.objects.filter(name="gamma").exists()


def admin_account_change(c, w):
    resp = c.post(f"/admin/wechat_app/account/{w.a.pk}/change/", _account_post(w.a, enabled=None))
    return admin_answer(resp, form_errors=_change_form_errors), not Account.objects.get(pk=w.a.pk).enabled


def admin_account_delete(c, w):
    resp = c.post(f"/admin/wechat_app/account/{w.a.pk}/delete/", {"post": "yes"})
    return admin_answer(resp), not Account.objects.filter(pk=w.a.pk).exists()


def admin_rule_list(c, w):
    resp = c.get("/admin/wechat_app/rule/")
    return admin_answer(resp, listed=resp.status_code == 200 and "rule-alpha" in resp.content.decode()), None


def admin_rule_view(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/rule/{w.rule.pk}/change/")), None


def admin_rule_create(c, w):
    resp = c.post("/admin/wechat_app/rule/add/", _rule_post(w.a, name="new-rule"))
    return admin_answer(resp, form_errors=_change_form_errors), w.rule_exists(name="new-rule")


def admin_rule_change(c, w):
    resp = c.post(f"/admin/wechat_app/rule/{w.rule.pk}/change/", _rule_post(w.a, name="rule-alpha", priority="7"))
    return admin_answer(resp, form_errors=_change_form_errors), w.rule_exists(name="rule-alpha", priority=7)


def admin_rule_delete(c, w):
    resp = c.post(f"/admin/wechat_app/rule/{w.rule.pk}/delete/", {"post": "yes"})
    return admin_answer(resp), not w.rule_exists(pk=w.rule.pk)


def admin_log_list(c, w):
    resp = c.get("/admin/wechat_app/messagelog/")
    return admin_answer(resp, listed=resp.status_code == 200 and "user-alpha" in resp.content.decode()), None


def admin_log_view(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/messagelog/{w.log.pk}/change/")), None


def admin_log_create(c, w):
    resp = c.post("/admin/wechat_app/messagelog/add/", {"account": w.a.pk, "dedupe_key": "forged", "user": "u",
                                                        "msg_type": "text", "status": "replied"})
    return admin_answer(resp), MessageLog.objects.filter(dedupe_key="forged").exists()


def admin_log_change(c, w):
    resp = c.post(f"/admin/wechat_app/messagelog/{w.log.pk}/change/", {"status": "error", "user": "forged"})
    return admin_answer(resp), MessageLog.objects.filter(pk=w.log.pk, user="forged").exists()


def admin_log_delete(c, w):
    resp = c.post(f"/admin/wechat_app/messagelog/{w.log.pk}/delete/", {"post": "yes"})
    return admin_answer(resp), not MessageLog.objects.filter(pk=w.log.pk).exists()


def admin_rule_test(c, w):
    resp = c.post("/admin/wechat_app/rule/simulator/", {"account": w.a.pk, "user": "sim-user", "kind": "text",
                                                        "text": "hi"}, HTTP_ACCEPT="application/json")
    answer = admin_answer(resp)
    if answer == ALLOW and resp.json()["turn"].get("rule_name") != "rule-alpha":
        answer = f"another answer: {resp.json()['turn']}"
    return answer, MessageLog.objects.filter(user="sim-user").exists()


def admin_log_conversation(c, w):
    resp = c.get(f"/admin/wechat_app/messagelog/conversation/{w.a.pk}/", {"user": "user-alpha"})
    answer = admin_answer(resp)
    if answer == ALLOW and "alpha text" not in resp.content.decode():
        answer = "the thread is missing"
    return answer, None


def admin_log_stats(c, w):
    resp = c.get(f"/admin/wechat_app/account/{w.a.pk}/dashboard/")
    answer = admin_answer(resp)
    if answer == ALLOW and resp.context["totals"]["messages"] != 1:
        answer = f"other figures: {resp.context['totals']}"
    return answer, None


def _import_form_errors(resp):
    return resp.context["form"].errors if resp.context and "form" in resp.context else {}


def admin_import_dry_run(c, w):
    resp = c.post("/admin/wechat_app/rule/import/", {"account": w.a.pk, "text": RULE_FILE})
    answer = admin_answer(resp, form_errors=_import_form_errors)
    if answer == ALLOW and not resp.context.get("preview"):
        answer = "no preview shown"
    return answer, w.rule_exists(name="imported")  # a dry run never writes: expected False below


def admin_import(c, w):
    resp = c.post("/admin/wechat_app/rule/import/", {"account": w.a.pk, "text": RULE_FILE, "confirm": "1"})
    return admin_answer(resp, form_errors=_import_form_errors), w.rule_exists(name="imported")


def admin_export(c, w):
    resp = c.get(f"/admin/wechat_app/rule/export/{w.a.pk}/")
    answer = admin_answer(resp)
    if answer == ALLOW and b"rule-alpha" not in resp.content:
        answer = "export without the rule"
    return answer, None


def _menu_post(account=None, **changes):
    """The menu editor's form; without ``account`` (and ``kind``) for a change: both are read-only there."""
    data = {"name": "new-menu", "buttons": json.dumps(MENU_BUTTONS)}
    if account is not None:
        data.update({"account": account.pk, "kind": "conditional", "sex": "1"})
    data.update(changes)
    return data


# The admin answers the menu actions that change something with a redirect (and a message) where the
# API answers 200/201/204: ``admin_answer`` reads a redirect without "does not exist" as ALLOW, and
# its 404 or "does not exist" redirect as HIDDEN, so the table's cells hold for both surfaces.

def admin_menu_list(c, w):
    resp = c.get("/admin/wechat_app/menu/")
    return admin_answer(resp, listed=resp.status_code == 200 and "menu-alpha" in resp.content.decode()), None


def admin_menu_view(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/menu/{w.menu.pk}/change/")), None


def admin_menu_create(c, w):
    resp = c.post("/admin/wechat_app/menu/add/", _menu_post(w.a))
    return admin_answer(resp, form_errors=_change_form_errors), Menu.objects.filter(name="new-menu").exists()


def admin_menu_change(c, w):
    resp = c.post(f"/admin/wechat_app/menu/{w.menu.pk}/change/",
                  _menu_post(name="renamed"))
    renamed = Menu.objects.filter(pk=w.menu.pk, name="renamed").exists()
    return admin_answer(resp, form_errors=_change_form_errors), renamed


def admin_menu_delete(c, w):
    resp = c.post(f"/admin/wechat_app/menu/{w.menu.pk}/delete/", {"post": "yes"})
    return admin_answer(resp), not Menu.objects.filter(pk=w.menu.pk).exists()


def admin_menu_publish(c, w):
    # The editor's "Save and publish" button: the change form posted with ``_publish``.
    with wechat_for(w.a):
        resp = c.post(f"/admin/wechat_app/menu/{w.menu.pk}/change/",
                      _menu_post(name="menu-alpha", _publish="1"))
    answer = admin_answer(resp, form_errors=_change_form_errors)
    return answer, MenuVersion.objects.filter(menu=w.menu).exclude(pk=w.version.pk).exists()


def admin_menus_pull(c, w):
    with wechat_for(w.a) as sandbox:
        sandbox.state.create_menu(w.a.app_id, {"button": MENU_BUTTONS})
        resp = c.post("/admin/wechat_app/menu/pull/", {"account": w.a.pk})
    return admin_answer(resp), MenuVersion.objects.filter(account=w.a, source="pull").exists()


def admin_menus_delete_live(c, w):
    Menu.objects.filter(pk=w.menu.pk).update(live_version=w.version)
    with wechat_for(w.a) as sandbox:
        sandbox.state.create_menu(w.a.app_id, {"button": MENU_BUTTONS})
        resp = c.post("/admin/wechat_app/menu/delete-live/", {"account": w.a.pk, "confirm": "1"})
        gone = not sandbox.state.menus.get(w.a.app_id)
    return admin_answer(resp), gone and not Menu.objects.filter(pk=w.menu.pk, live_version__isnull=False).exists()


def admin_menus_trymatch(c, w):
    # A GET form listing the user's accounts: another account is an invalid choice of its ``account``
    # field (HIDDEN, as the API's unknown account).
    with wechat_for(w.a) as sandbox:
        sandbox.state.create_menu(w.a.app_id, {"button": MENU_BUTTONS})
        (follower,) = sandbox.state.add_followers(w.a.app_id, count=1)
        resp = c.get("/admin/wechat_app/menu/trymatch/", {"account": w.a.pk, "user_id": follower})
    answer = admin_answer(resp, form_errors=_import_form_errors)
    if answer == ALLOW and (resp.context.get("error") or json.loads(resp.context["buttons_json"]) != MENU_BUTTONS):
        answer = f"another menu: {resp.context.get('error') or resp.context['buttons_json']}"
    return answer, None


def admin_menuversion_list(c, w):
    resp = c.get("/admin/wechat_app/menuversion/")
    link = f"/admin/wechat_app/menuversion/{w.version.pk}/change/"
    listed = resp.status_code == 200 and link in resp.content.decode()
    return admin_answer(resp, listed=listed), None


def admin_menuversion_view(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/menuversion/{w.version.pk}/change/")), None


def admin_menuversion_diff(c, w):
    # The admin's diff is the version page compared with another version (``?compare=``).
    other = MenuVersion.objects.create(account=w.a, menu=w.menu, number=2, status="published",
                                       document={"button": [{**MENU_BUTTONS[0], "name": "Tomorrow"}]})
    resp = c.get(f"/admin/wechat_app/menuversion/{w.version.pk}/change/", {"compare": other.pk})
    answer = admin_answer(resp)
    if answer == ALLOW and "Tomorrow" not in str(resp.context.get("diff_html", "")):
        answer = "no diff shown"
    return answer, None


def admin_menuversion_rollback(c, w):
    with wechat_for(w.a):
        resp = c.post(f"/admin/wechat_app/menuversion/{w.version.pk}/rollback/")
    return admin_answer(resp), MenuVersion.objects.filter(rolled_back_from=w.version).exists()


# ---- the outbound side (templates, messages, campaigns, followers) ---------------------------------------

@dataclass
class Outbound:
    template: object
    message: object
    campaign: object
    follower: object


def outbound_objects(w) -> Outbound:
    """Account A's outbound objects: a template, a failed message, a draft campaign, a follower."""
    from wechat_app.models import Campaign, Follower, OutboundMessage, Template

    template = Template.objects.create(account=w.a, template_id="tpl-alpha", title="Alpha news",
                                       content="{{first.DATA}}", keywords=["first"])
    message = OutboundMessage.objects.create(account=w.a, kind="text", to_user="user-alpha",
                                             payload={"content": "x"}, status="failed", errcode=-1)
    campaign = Campaign.objects.create(account=w.a, name="campaign-alpha", template=template,
                                       data={"first": "Hi"}, openids=["user-alpha"])
    follower = Follower.objects.create(account=w.a, openid="follower-alpha")
    return Outbound(template, message, campaign, follower)


def _admin_listed(c, model, needle):
    resp = c.get(f"/admin/wechat_app/{model}/")
    return admin_answer(resp, listed=resp.status_code == 200 and needle in resp.content.decode())


def admin_action_answer(resp):
    """A changelist action: Django answers a redirect whatever happened; its message says."""
    if resp.status_code == 200:
        return DENY  # the action is not offered to this user: the list is shown again
    notes = [str(m) for m in get_messages(resp.wsgi_request)] if resp.status_code == 302 else []
    if any(note.startswith("0 ") or "must be selected" in note for note in notes):
        return HIDDEN  # the object is not in the user's list: nothing was done
    return admin_answer(resp)


def admin_outbound_list(c, w):
    outbound_objects(w)
    return _admin_listed(c, "outboundmessage", "user-alpha"), None


def admin_outbound_view(c, w):
    o = outbound_objects(w)
    return admin_answer(c.get(f"/admin/wechat_app/outboundmessage/{o.message.pk}/change/")), None


def admin_outbound_send(c, w):
    from wechat_app.models import OutboundMessage

    resp = c.post(f"/admin/wechat_app/messagelog/conversation/{w.a.pk}/?user=user-alpha",
                  {"text": "An operator's answer", "key": "a" * 32})
    sent = OutboundMessage.objects.filter(account=w.a, payload__content="An operator's answer").exists()
    return admin_answer(resp), sent


def as_wecom_app(account):
    """Make ``account`` a WeCom app (the app-message actions need one)."""
    Account.objects.filter(pk=account.pk).update(channel="wecom", app_id="ww0123456789abcdef", agent_id=1000002,
                                                 encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
                                                 encrypt_mode="safe")


def wecom_sent(w):
    from wechat_app.models import OutboundMessage

    return OutboundMessage.objects.filter(account=w.a, kind="wecom_app", payload__text__content="An app message").exists()


def admin_outbound_wecom_send(c, w):
    as_wecom_app(w.a)
    resp = c.post("/admin/wechat_app/outboundmessage/wecom-send/", {
        "account": w.a.pk, "msgtype": "text", "text": "An app message", "touser": "user-alpha", "key": "w" * 32})
    form_errors = (lambda r: r.context["form"].errors if r.context and "form" in r.context else {})
    return admin_answer(resp, form_errors=form_errors), wecom_sent(w)


def admin_outbound_resend(c, w):
    from django.contrib.admin import helpers

    o = outbound_objects(w)
    resp = c.post("/admin/wechat_app/outboundmessage/", {"action": "resend",
                                                         helpers.ACTION_CHECKBOX_NAME: [o.message.pk]})
    o.message.refresh_from_db()
    return admin_action_answer(resp), o.message.status != "failed"


def admin_template_list(c, w):
    outbound_objects(w)
    return _admin_listed(c, "template", "Alpha news"), None


def admin_template_view(c, w):
    o = outbound_objects(w)
    return admin_answer(c.get(f"/admin/wechat_app/template/{o.template.pk}/change/")), None


def admin_template_sync(c, w):
    from wechat_app.models import Template

    with wechat_for(w.a) as sandbox:
        sandbox.state.add_template(w.a.app_id, "Synced", "{{first.DATA}}", template_id="tpl-synced")
        resp = c.post("/admin/wechat_app/template/sync/", {"account": w.a.pk})
    return admin_answer(resp), Template.objects.filter(account=w.a, template_id="tpl-synced").exists()


def admin_campaign_list(c, w):
    outbound_objects(w)
    return _admin_listed(c, "campaign", "campaign-alpha"), None


def admin_campaign_view(c, w):
    o = outbound_objects(w)
    return admin_answer(c.get(f"/admin/wechat_app/campaign/{o.campaign.pk}/change/")), None


def admin_campaign_create(c, w):
    from wechat_app.models import Campaign

    o = outbound_objects(w)
    resp = c.post("/admin/wechat_app/campaign/add/", {
        "name": "new-campaign", "template": o.template.pk, "data__first": "Hello", "url": "", "audience": "list",
        "openids": "user-alpha", "tag_id": "", "miniprogram": "", "rate_limit": ""})
    answer = admin_answer(resp, form_errors=_change_form_errors, hidden_field="template")
    return answer, Campaign.objects.filter(name="new-campaign").exists()


def admin_campaign_start(c, w):
    o = outbound_objects(w)
    resp = c.post(f"/admin/wechat_app/campaign/{o.campaign.pk}/start/")
    o.campaign.refresh_from_db()
    return admin_answer(resp), o.campaign.status == "running"


def admin_campaign_cancel(c, w):
    o = outbound_objects(w)
    resp = c.post(f"/admin/wechat_app/campaign/{o.campaign.pk}/cancel/")
    o.campaign.refresh_from_db()
    return admin_answer(resp), o.campaign.status == "cancelled"


def admin_follower_list(c, w):
    outbound_objects(w)
    return _admin_listed(c, "follower", "follower-alpha"), None


def admin_follower_view(c, w):
    o = outbound_objects(w)
    return admin_answer(c.get(f"/admin/wechat_app/follower/{o.follower.pk}/change/")), None


def admin_follower_sync(c, w):
    # The admin queues the sync (a task, possibly in a worker): its effect is not observed here.
    with wechat_for(w.a):
        resp = c.post("/admin/wechat_app/follower/sync/", {"account": w.a.pk})
    return admin_answer(resp), None
# ---- tags, mass send, kf accounts ------------------------------------------------------------------

@contextlib.contextmanager
def audience_wechat(w):
    """A sandbox knowing the world's tag and follower."""
    with wechat_for(w.a) as sandbox:
        sandbox.state.add_tag(w.a.app_id, w.tag.name, w.tag.tag_id)
        sandbox.state.add_followers(w.a.app_id, [w.follower.openid])
        yield sandbox


def _tagged(w, sandbox):
    return w.tag.tag_id in sandbox.state.followers[w.a.app_id][w.follower.openid].tagid_list


def admin_tag_list(c, w):
    resp = c.get("/admin/wechat_app/tag/")
    return admin_answer(resp, listed=resp.status_code == 200 and "tag-alpha" in resp.content.decode()), None


def admin_tag_create(c, w):
    with audience_wechat(w):
        resp = c.post("/admin/wechat_app/tag/add/", {"account": w.a.pk, "name": "new-tag"})
    return admin_answer(resp, form_errors=_change_form_errors), Tag.objects.filter(name="new-tag").exists()


def admin_tag_tag_followers(c, w):
    # A bulk action of the follower list. Without change_follower the list offers no action at all (the
    # post just shows the list again: 200, nothing done); another account's tag is not among the choices
    # of the action bar ("No action selected", or "Choose a tag").
    with audience_wechat(w) as sandbox:
        resp = c.post("/admin/wechat_app/follower/", {"action": "add_tag", "tag": w.tag.pk,
                                                      "_selected_action": [w.follower.pk]})
        tagged = _tagged(w, sandbox)
    if resp.status_code == 200 and not tagged:
        return DENY, tagged
    notes = [str(m) for m in get_messages(resp.wsgi_request)] if resp.status_code == 302 else []
    if any("No action selected" in n or "Choose a tag" in n for n in notes):
        return HIDDEN, tagged
    return admin_answer(resp), tagged


def _mass_post(w):
    return {"account": w.a.pk, "name": "new-mass", "audience": "all", "tag": "", "openids": "", "kind": "text",
            "text": "Hello", "media_id": "", "card_id": ""}


def admin_mass_create(c, w):
    resp = c.post("/admin/wechat_app/massmessage/add/", _mass_post(w))
    return admin_answer(resp, form_errors=_change_form_errors), MassMessage.objects.filter(name="new-mass").exists()


def admin_mass_send(c, w):
    with audience_wechat(w):
        resp = c.post(f"/admin/wechat_app/massmessage/{w.mass.pk}/send/")
    return admin_answer(resp), MassMessage.objects.filter(pk=w.mass.pk).exclude(status="draft").exists()


def admin_kf_list(c, w):
    resp = c.get("/admin/wechat_app/kfaccount/")
    return admin_answer(resp, listed=resp.status_code == 200 and "kfalpha@gh_alpha" in resp.content.decode()), None


# ---- the REST API -----------------------------------------------------------------------------------

API = "/wechat/api"


def api_answer(resp, *, listed=None, hidden_field=None):
    """Classify an API response (see the module docstring)."""
    error = resp.json().get("error", {}) if resp.status_code >= 400 else {}
    if resp.status_code == 401 or (resp.status_code == 403 and error.get("code") == "not_authenticated"):
        return LOGIN
    if resp.status_code in (403, 405):
        return DENY
    if resp.status_code == 404:
        return HIDDEN
    if resp.status_code == 400 and hidden_field and set(error.get("fields", ())) == {hidden_field}:
        return HIDDEN
    if 200 <= resp.status_code < 300:
        if listed is not None:
            return ALLOW if listed else HIDDEN
        return ALLOW
    return f"unexpected {resp.status_code}: {resp.content[:300]!r}"


def _send(c, method, url, data=None):
    return getattr(c, method)(url, json.dumps(data) if data is not None else None, content_type="application/json")


def _names(resp, key="name"):
    return [row[key] for row in resp.json()["results"]] if resp.status_code == 200 else []


def api_account_list(c, w):
    resp = c.get(f"{API}/accounts/")
    return api_answer(resp, listed="alpha" in _names(resp)), None


def api_account_view(c, w):
    return api_answer(c.get(f"{API}/accounts/alpha/")), None


def api_account_create(c, w):
    resp = _send(c, "post", f"{API}/accounts/", {"name": "gamma", "app_id": "wxgamma0001",
                                                "app_secret": "secret-gamma-0123", "token": "tokgamma1",
                                                "encrypt_mode": "plain"})
    return api_answer(resp), Account.objects.filter(name="gamma").exists()


def api_account_change(c, w):
    resp = _send(c, "patch", f"{API}/accounts/alpha/", {"enabled": False})
    return api_answer(resp), not Account.objects.get(pk=w.a.pk).enabled


def api_account_delete(c, w):
    resp = c.delete(f"{API}/accounts/alpha/")
    return api_answer(resp), not Account.objects.filter(pk=w.a.pk).exists()


def api_rule_list(c, w):
    resp = c.get(f"{API}/rules/")
    return api_answer(resp, listed="rule-alpha" in _names(resp)), None


def api_rule_view(c, w):
    return api_answer(c.get(f"{API}/rules/{w.rule.pk}/")), None


def api_rule_create(c, w):
    resp = _send(c, "post", f"{API}/rules/", {"account": "alpha", "name": "new-rule", "match_kind": "contains",
                                             "match_value": "new", "replies": ["New!"]})
    return api_answer(resp, hidden_field="account"), w.rule_exists(name="new-rule")


def api_rule_change(c, w):
    resp = _send(c, "patch", f"{API}/rules/{w.rule.pk}/", {"priority": 7})
    return api_answer(resp), w.rule_exists(name="rule-alpha", priority=7)


def api_rule_delete(c, w):
    resp = c.delete(f"{API}/rules/{w.rule.pk}/")
    return api_answer(resp), not w.rule_exists(pk=w.rule.pk)


def api_log_list(c, w):
    resp = c.get(f"{API}/messages/")
    return api_answer(resp, listed="user-alpha" in _names(resp, "user")), None


def api_log_view(c, w):
    return api_answer(c.get(f"{API}/messages/{w.log.pk}/")), None


def api_log_create(c, w):
    resp = _send(c, "post", f"{API}/messages/", {"account": "alpha", "dedupe_key": "forged", "user": "u",
                                                "msg_type": "text"})
    return api_answer(resp), MessageLog.objects.filter(dedupe_key="forged").exists()


def api_log_change(c, w):
    resp = _send(c, "patch", f"{API}/messages/{w.log.pk}/", {"user": "forged"})
    return api_answer(resp), MessageLog.objects.filter(pk=w.log.pk, user="forged").exists()


def api_log_delete(c, w):
    resp = c.delete(f"{API}/messages/{w.log.pk}/")
    return api_answer(resp), not MessageLog.objects.filter(pk=w.log.pk).exists()


def api_rule_test(c, w):
    resp = _send(c, "post", f"{API}/rules/test/", {"account": "alpha", "user": "sim-user", "text": "hi"})
    answer = api_answer(resp, hidden_field="account")
    if answer == ALLOW and resp.json()["rule"]["name"] != "rule-alpha":
        answer = f"another answer: {resp.json()}"
    return answer, MessageLog.objects.filter(user="sim-user").exists()


def api_log_conversation(c, w):
    resp = c.get(f"{API}/messages/conversation/", {"account": "alpha", "user": "user-alpha"})
    answer = api_answer(resp, hidden_field="account")
    if answer == ALLOW and [item["received"]["text"] for item in resp.json()["items"]] != ["alpha text"]:
        answer = f"another thread: {resp.json()}"
    return answer, None


def api_log_stats(c, w):
    resp = c.get(f"{API}/messages/stats/", {"account": "alpha"})
    answer = api_answer(resp, hidden_field="account")
    if answer == ALLOW and resp.json()["totals"]["messages"] != 1:
        answer = f"other figures: {resp.json()['totals']}"
    return answer, None


def api_import_dry_run(c, w):
    resp = _send(c, "post", f"{API}/accounts/alpha/rules/import/", {"rules": RULE_FILE, "dry_run": True})
    answer = api_answer(resp)
    if answer == ALLOW and resp.json().get("created") != ["imported"]:
        answer = f"no preview: {resp.json()}"
    return answer, w.rule_exists(name="imported")


def api_import(c, w):
    resp = _send(c, "post", f"{API}/accounts/alpha/rules/import/", {"rules": RULE_FILE})
    return api_answer(resp), w.rule_exists(name="imported")


def api_export(c, w):
    resp = c.get(f"{API}/accounts/alpha/rules/export/")
    answer = api_answer(resp)
    if answer == ALLOW and b"rule-alpha" not in resp.content:
        answer = "export without the rule"
    return answer, None


def api_menu_list(c, w):
    resp = c.get(f"{API}/menus/")
    return api_answer(resp, listed="menu-alpha" in _names(resp)), None


def api_menu_view(c, w):
    return api_answer(c.get(f"{API}/menus/{w.menu.pk}/")), None


def api_menu_create(c, w):
    resp = _send(c, "post", f"{API}/menus/", {"account": "alpha", "name": "new-menu", "kind": "conditional",
                                             "matchrule": {"sex": "1"}, "buttons": MENU_BUTTONS})
    return api_answer(resp, hidden_field="account"), Menu.objects.filter(name="new-menu").exists()


def api_menu_change(c, w):
    resp = _send(c, "patch", f"{API}/menus/{w.menu.pk}/", {"name": "renamed"})
    return api_answer(resp), Menu.objects.filter(pk=w.menu.pk, name="renamed").exists()


def api_menu_delete(c, w):
    resp = c.delete(f"{API}/menus/{w.menu.pk}/")
    return api_answer(resp), not Menu.objects.filter(pk=w.menu.pk).exists()


def api_menu_publish(c, w):
    with wechat_for(w.a):
        resp = c.post(f"{API}/menus/{w.menu.pk}/publish/")
    return api_answer(resp), MenuVersion.objects.filter(menu=w.menu).exclude(pk=w.version.pk).exists()


def api_menus_pull(c, w):
    with wechat_for(w.a) as sandbox:
        sandbox.state.create_menu(w.a.app_id, {"button": MENU_BUTTONS})
        resp = c.post(f"{API}/accounts/alpha/menus/pull/")
    return api_answer(resp), MenuVersion.objects.filter(account=w.a, source="pull").exists()


def api_menus_delete_live(c, w):
    Menu.objects.filter(pk=w.menu.pk).update(live_version=w.version)
    with wechat_for(w.a) as sandbox:
        sandbox.state.create_menu(w.a.app_id, {"button": MENU_BUTTONS})
        resp = c.post(f"{API}/accounts/alpha/menus/delete-live/")
        gone = not sandbox.state.menus.get(w.a.app_id)
    return api_answer(resp), gone and not Menu.objects.filter(pk=w.menu.pk, live_version__isnull=False).exists()


def api_menus_trymatch(c, w):
    with wechat_for(w.a) as sandbox:
        sandbox.state.create_menu(w.a.app_id, {"button": MENU_BUTTONS})
        (follower,) = sandbox.state.add_followers(w.a.app_id, count=1)
        resp = _send(c, "post", f"{API}/accounts/alpha/menus/trymatch/", {"user_id": follower})
    answer = api_answer(resp)
    if answer == ALLOW and resp.json()["button"] != MENU_BUTTONS:
        answer = f"another menu: {resp.json()}"
    return answer, None


def api_menuversion_list(c, w):
    resp = c.get(f"{API}/menu-versions/")
    return api_answer(resp, listed=w.version.pk in _names(resp, "id")), None


def api_menuversion_view(c, w):
    return api_answer(c.get(f"{API}/menu-versions/{w.version.pk}/")), None


def api_menuversion_diff(c, w):
    return api_answer(c.get(f"{API}/menu-versions/{w.version.pk}/diff/")), None


def api_menuversion_rollback(c, w):
    with wechat_for(w.a):
        resp = c.post(f"{API}/menu-versions/{w.version.pk}/rollback/")
    return api_answer(resp), MenuVersion.objects.filter(rolled_back_from=w.version).exists()


def api_outbound_list(c, w):
    outbound_objects(w)
    resp = c.get(f"{API}/outbound-messages/")
    return api_answer(resp, listed="user-alpha" in _names(resp, "to_user")), None


def api_outbound_view(c, w):
    o = outbound_objects(w)
    return api_answer(c.get(f"{API}/outbound-messages/{o.message.pk}/")), None


def api_outbound_send(c, w):
    from wechat_app.models import OutboundMessage

    resp = _send(c, "post", f"{API}/outbound-messages/custom/", {
        "account": "alpha", "to_user": "user-alpha", "kind": "text", "content": {"content": "An API message"}})
    sent = OutboundMessage.objects.filter(account=w.a, payload__content="An API message").exists()
    return api_answer(resp, hidden_field="account"), sent


def api_outbound_wecom_send(c, w):
    as_wecom_app(w.a)
    resp = _send(c, "post", f"{API}/outbound-messages/wecom/", {
        "account": "alpha", "msgtype": "text", "content": {"content": "An app message"}, "touser": ["user-alpha"]})
    return api_answer(resp, hidden_field="account"), wecom_sent(w)


def api_outbound_resend(c, w):
    o = outbound_objects(w)
    resp = c.post(f"{API}/outbound-messages/{o.message.pk}/resend/")
    o.message.refresh_from_db()
    return api_answer(resp), o.message.status != "failed"


def api_template_list(c, w):
    outbound_objects(w)
    resp = c.get(f"{API}/templates/")
    return api_answer(resp, listed="tpl-alpha" in _names(resp, "template_id")), None


def api_template_view(c, w):
    o = outbound_objects(w)
    return api_answer(c.get(f"{API}/templates/{o.template.pk}/")), None


def api_template_sync(c, w):
    from wechat_app.models import SyncJob

    resp = _send(c, "post", f"{API}/templates/sync/", {"account": "alpha"})
    return api_answer(resp, hidden_field="account"), SyncJob.objects.filter(account=w.a, kind="templates").exists()


def api_campaign_list(c, w):
    outbound_objects(w)
    resp = c.get(f"{API}/campaigns/")
    return api_answer(resp, listed="campaign-alpha" in _names(resp)), None


def api_campaign_view(c, w):
    o = outbound_objects(w)
    return api_answer(c.get(f"{API}/campaigns/{o.campaign.pk}/")), None


def api_campaign_create(c, w):
    from wechat_app.models import Campaign

    outbound_objects(w)
    resp = _send(c, "post", f"{API}/campaigns/", {"account": "alpha", "name": "new-campaign",
                                                 "template_id": "tpl-alpha", "data": {"first": "Hello"},
                                                 "openids": ["user-alpha"]})
    return api_answer(resp, hidden_field="account"), Campaign.objects.filter(name="new-campaign").exists()


def api_campaign_start(c, w):
    o = outbound_objects(w)
    resp = c.post(f"{API}/campaigns/{o.campaign.pk}/start/")
    o.campaign.refresh_from_db()
    return api_answer(resp), o.campaign.status == "running"


def api_campaign_cancel(c, w):
    o = outbound_objects(w)
    resp = c.post(f"{API}/campaigns/{o.campaign.pk}/cancel/")
    o.campaign.refresh_from_db()
    return api_answer(resp), o.campaign.status == "cancelled"


def api_follower_list(c, w):
    outbound_objects(w)
    resp = c.get(f"{API}/followers/")
    return api_answer(resp, listed="follower-alpha" in _names(resp, "openid")), None


def api_follower_view(c, w):
    o = outbound_objects(w)
    return api_answer(c.get(f"{API}/followers/{o.follower.pk}/")), None


def api_follower_sync(c, w):
    from wechat_app.models import SyncJob

    resp = _send(c, "post", f"{API}/followers/sync/", {"account": "alpha"})
    return api_answer(resp, hidden_field="account"), SyncJob.objects.filter(account=w.a, kind="followers").exists()
def api_tag_list(c, w):
    resp = c.get(f"{API}/tags/")
    return api_answer(resp, listed="tag-alpha" in _names(resp)), None


def api_tag_create(c, w):
    with audience_wechat(w):
        resp = _send(c, "post", f"{API}/tags/", {"account": "alpha", "name": "new-tag"})
    return api_answer(resp, hidden_field="account"), Tag.objects.filter(name="new-tag").exists()


def api_tag_tag_followers(c, w):
    with audience_wechat(w) as sandbox:
        resp = _send(c, "post", f"{API}/tags/{w.tag.pk}/tag/", {"openids": [w.follower.openid]})
        tagged = _tagged(w, sandbox)
    return api_answer(resp), tagged


def api_mass_create(c, w):
    resp = _send(c, "post", f"{API}/mass-messages/", {"account": "alpha", "name": "new-mass", "audience": "all",
                                                      "msgtype": "text", "content": {"content": "Hello"}})
    return api_answer(resp, hidden_field="account"), MassMessage.objects.filter(name="new-mass").exists()


def api_mass_send(c, w):
    with audience_wechat(w):
        resp = c.post(f"{API}/mass-messages/{w.mass.pk}/send/")
    return api_answer(resp), MassMessage.objects.filter(pk=w.mass.pk).exclude(status="draft").exists()


def api_kf_list(c, w):
    resp = c.get(f"{API}/kf-accounts/")
    return api_answer(resp, listed="kfalpha@gh_alpha" in _names(resp, "kf_account")), None
def _qrcode(w):
    from wechat_app.models import QRCode

    return QRCode.objects.get_or_create(account=w.a, name="qr-alpha", defaults={
        "kind": "permanent", "scene_id": 1, "scene": "1", "ticket": "ticket-alpha", "url": "http://weixin.qq.com/q/a"})[0]


def _qrcode_exists(**fields):
    from wechat_app.models import QRCode

    return QRCode.objects.filter(**fields).exists()


def admin_qrcode_list(c, w):
    _qrcode(w)
    resp = c.get("/admin/wechat_app/qrcode/")
    return admin_answer(resp, listed=resp.status_code == 200 and "qr-alpha" in resp.content.decode()), None


def admin_qrcode_view(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/qrcode/{_qrcode(w).pk}/change/")), None


def admin_qrcode_png(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/qrcode/{_qrcode(w).pk}/png/")), None


def admin_qrcode_create(c, w):
    with wechat_for(w.a):
        resp = c.post("/admin/wechat_app/qrcode/add/", {"account": w.a.pk, "name": "new-qr", "kind": "permanent",
                                                        "scene_id": "2", "scene_str": "", "expire_seconds": "",
                                                        "rule": "", "reply": ""})
    return admin_answer(resp, form_errors=_change_form_errors), _qrcode_exists(name="new-qr")


def admin_qrcode_change(c, w):
    qr = _qrcode(w)
    resp = c.post(f"/admin/wechat_app/qrcode/{qr.pk}/change/", {"name": "renamed-qr", "rule": "", "reply": ""})
    return admin_answer(resp, form_errors=_change_form_errors), _qrcode_exists(pk=qr.pk, name="renamed-qr")


def admin_qrcode_delete(c, w):
    qr = _qrcode(w)
    resp = c.post(f"/admin/wechat_app/qrcode/{qr.pk}/delete/", {"post": "yes"})
    return admin_answer(resp), not _qrcode_exists(pk=qr.pk)


def api_qrcode_list(c, w):
    _qrcode(w)
    resp = c.get(f"{API}/qrcodes/")
    return api_answer(resp, listed="qr-alpha" in _names(resp)), None


def api_qrcode_view(c, w):
    return api_answer(c.get(f"{API}/qrcodes/{_qrcode(w).pk}/")), None


def api_qrcode_png(c, w):
    return api_answer(c.get(f"{API}/qrcodes/{_qrcode(w).pk}/png/")), None


def api_qrcode_create(c, w):
    with wechat_for(w.a):
        resp = _send(c, "post", f"{API}/qrcodes/", {"account": "alpha", "name": "new-qr", "kind": "permanent",
                                                     "scene_id": 2})
    return api_answer(resp, hidden_field="account"), _qrcode_exists(name="new-qr")


def api_qrcode_change(c, w):
    qr = _qrcode(w)
    resp = _send(c, "patch", f"{API}/qrcodes/{qr.pk}/", {"name": "renamed-qr"})
    return api_answer(resp), _qrcode_exists(pk=qr.pk, name="renamed-qr")


def api_qrcode_delete(c, w):
    qr = _qrcode(w)
    resp = c.delete(f"{API}/qrcodes/{qr.pk}/")
    return api_answer(resp), not _qrcode_exists(pk=qr.pk)
def _wechat_material(sandbox, w):
    """The material as it is on WeChat (the sandbox), so that deleting and syncing find it."""
    media = sandbox.state.media.put(w.a.app_id, "image", PNG, filename="material-alpha.png", permanent=True)
    Material.objects.filter(pk=w.material.pk).update(media_id=media.media_id)
    return media.media_id


def _upload(c, url, account):
    from django.core.files.uploadedfile import SimpleUploadedFile

    field = "type" if url.startswith(API) else "kind"  # WeChat's name in the API, the model's in the admin
    return c.post(url, {"account": account, field: "image", "file": SimpleUploadedFile("upload.png", PNG)})


def admin_material_list(c, w):
    resp = c.get("/admin/wechat_app/material/")
    return admin_answer(resp, listed=resp.status_code == 200 and "material-alpha" in resp.content.decode()), None


def admin_material_view(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/material/{w.material.pk}/change/")), None


def admin_material_file(c, w):
    resp = c.get(f"/admin/wechat_app/material/file/material/{w.material.pk}/")
    answer = admin_answer(resp)
    if answer == ALLOW and b"".join(resp.streaming_content) != PNG:
        answer = "another file"
    return answer, None


def admin_material_upload(c, w):
    with wechat_for(w.a):
        resp = _upload(c, "/admin/wechat_app/material/add/", w.a.pk)
    return admin_answer(resp, form_errors=_change_form_errors), Material.objects.filter(name="upload.png").exists()


def admin_material_sync(c, w):
    with wechat_for(w.a) as sandbox:
        Material.objects.filter(pk=w.material.pk).delete()
        media_id = _wechat_material(sandbox, w)
        resp = c.post("/admin/wechat_app/material/sync/", {"account": w.a.pk})
    return admin_answer(resp), Material.objects.filter(media_id=media_id).exists()


def admin_material_delete(c, w):
    with wechat_for(w.a) as sandbox:
        _wechat_material(sandbox, w)
        resp = c.post(f"/admin/wechat_app/material/{w.material.pk}/delete/", {"post": "yes"})
    return admin_answer(resp), not Material.objects.filter(pk=w.material.pk).exists()


def api_material_list(c, w):
    resp = c.get(f"{API}/materials/")
    return api_answer(resp, listed="material-alpha" in _names(resp, "media_id")), None


def api_material_view(c, w):
    return api_answer(c.get(f"{API}/materials/{w.material.pk}/")), None


def api_material_file(c, w):
    resp = c.get(f"{API}/materials/{w.material.pk}/file/")
    answer = api_answer(resp)
    if answer == ALLOW and b"".join(resp.streaming_content) != PNG:
        answer = "another file"
    return answer, None


def api_material_upload(c, w):
    with wechat_for(w.a):
        resp = _upload(c, f"{API}/materials/", "alpha")
    return api_answer(resp, hidden_field="account"), Material.objects.filter(name="upload.png").exists()


def api_material_sync(c, w):
    with wechat_for(w.a) as sandbox:
        Material.objects.filter(pk=w.material.pk).delete()
        media_id = _wechat_material(sandbox, w)
        resp = _send(c, "post", f"{API}/materials/sync/", {"account": "alpha"})
    return api_answer(resp, hidden_field="account"), Material.objects.filter(media_id=media_id).exists()


def api_material_delete(c, w):
    with wechat_for(w.a) as sandbox:
        _wechat_material(sandbox, w)
        resp = c.delete(f"{API}/materials/{w.material.pk}/")
    return api_answer(resp), not Material.objects.filter(pk=w.material.pk).exists()


# ---- WeCom contacts --------------------------------------------------------------------------------

@contextlib.contextmanager
def wecom_for(w):
    """Alpha as a WeCom app on a sandbox of its own, knowing the world's member (then back as it was)."""
    from wechat_app.sandbox.wecom_contacts import contact_book

    with running_sandbox() as sandbox:
        sandbox.state.add_corp_app(w.a.app_id, w.a.app_secret, 1000002)
        with sandbox.state.lock:
            contact_book(sandbox.state, w.a.app_id).users["member-alpha"] = {
                "userid": "member-alpha", "name": "Member Alpha", "department": [1], "email": "m@alpha.example"}
        Account.objects.filter(pk=w.a.pk).update(api_base_url=sandbox.url, channel="wecom", agent_id=1000002)
        try:
            yield sandbox
        finally:
            Account.objects.filter(pk=w.a.pk).update(channel="mp", agent_id=None)


def _wecom_member_post(w):
    return {"account": w.a.pk, "userid": "new-member", "name": "New", "department_ids": "1", "position": "",
            "mobile": "", "email": "new@alpha.example"}


def admin_wecom_member_list(c, w):
    return _admin_listed(c, "wecommember", "member-alpha"), None


def admin_wecom_member_create(c, w):
    with wecom_for(w):
        resp = c.post("/admin/wechat_app/wecommember/add/", _wecom_member_post(w))
    return admin_answer(resp, form_errors=_change_form_errors), WeComMember.objects.filter(userid="new-member").exists()


def admin_wecom_member_delete(c, w):
    with wecom_for(w) as sandbox:
        resp = c.post(f"/admin/wechat_app/wecommember/{w.wecom_member.pk}/delete/", {"post": "yes"})
        gone = "member-alpha" not in sandbox.state.wecom.corps[w.a.app_id].users
    return admin_answer(resp), gone or not WeComMember.objects.filter(pk=w.wecom_member.pk).exists()


def admin_wecom_tag_create(c, w):
    with wecom_for(w):
        resp = c.post("/admin/wechat_app/wecomtag/add/", {"account": w.a.pk, "name": "new-wecom-tag"})
    return admin_answer(resp, form_errors=_change_form_errors), WeComTag.objects.filter(name="new-wecom-tag").exists()


def api_wecom_member_list(c, w):
    resp = c.get(f"{API}/wecom-members/")
    return api_answer(resp, listed="member-alpha" in _names(resp, "userid")), None


def api_wecom_member_create(c, w):
    with wecom_for(w):
        resp = _send(c, "post", f"{API}/wecom-members/", {"account": "alpha", "userid": "new-member", "name": "New",
                                                          "departments": [1], "email": "new@alpha.example"})
    return api_answer(resp, hidden_field="account"), WeComMember.objects.filter(userid="new-member").exists()


def api_wecom_member_delete(c, w):
    with wecom_for(w) as sandbox:
        resp = c.delete(f"{API}/wecom-members/{w.wecom_member.pk}/")
        gone = "member-alpha" not in sandbox.state.wecom.corps[w.a.app_id].users
    return api_answer(resp), gone or not WeComMember.objects.filter(pk=w.wecom_member.pk).exists()


def api_wecom_tag_create(c, w):
    with wecom_for(w):
        resp = _send(c, "post", f"{API}/wecom-tags/", {"account": "alpha", "name": "new-wecom-tag"})
    return api_answer(resp, hidden_field="account"), WeComTag.objects.filter(name="new-wecom-tag").exists()


def _agent_event(w, status="pending"):
    from wechat_app.models import AgentEvent

    event, _ = AgentEvent.objects.get_or_create(account=w.a, dedupe_key="msg:agent-alpha", defaults={
        "chat_id": "user-alpha", "user_id": "user-alpha", "text": "agent-alpha question"})
    AgentEvent.objects.filter(pk=event.pk).update(status=status, worker_id="w" if status == "claimed" else "")
    event.refresh_from_db()
    return event


def admin_agentevent_list(c, w):
    _agent_event(w)
    resp = c.get("/admin/wechat_app/agentevent/")
    return admin_answer(resp, listed=resp.status_code == 200 and "agent-alpha question" in resp.content.decode()), None


def admin_agentevent_view(c, w):
    return admin_answer(c.get(f"/admin/wechat_app/agentevent/{_agent_event(w).pk}/change/")), None


def _admin_agent_action(c, w, action, status):
    from django.contrib.admin import helpers

    event = _agent_event(w, status)
    resp = c.post("/admin/wechat_app/agentevent/", {"action": action, helpers.ACTION_CHECKBOX_NAME: [event.pk]})
    event.refresh_from_db()
    return admin_action_answer(resp), event.status == "pending"


def admin_agentevent_retry(c, w):
    return _admin_agent_action(c, w, "retry_events", "failed")


def admin_agentevent_release(c, w):
    return _admin_agent_action(c, w, "release_events", "claimed")


def admin_agent_send(c, w):
    return admin_outbound_send(c, w)


def api_agentevent_list(c, w):
    _agent_event(w)
    resp = c.get(f"{API}/agent/inbox/")
    return api_answer(resp, listed="agent-alpha question" in _names(resp, "text")), None


def api_agentevent_view(c, w):
    return api_answer(c.get(f"{API}/agent/inbox/{_agent_event(w).pk}/")), None


def api_agentevent_retry(c, w):
    event = _agent_event(w, "failed")
    resp = c.post(f"{API}/agent/inbox/{event.pk}/retry/")
    event.refresh_from_db()
    return api_answer(resp), event.status == "pending"


def api_agentevent_release(c, w):
    event = _agent_event(w, "claimed")
    resp = c.post(f"{API}/agent/inbox/{event.pk}/release/")
    event.refresh_from_db()
    return api_answer(resp), event.status == "pending"


def api_agent_send(c, w):
    from wechat_app.models import OutboundMessage

    resp = _send(c, "post", f"{API}/agent/send/", {"account_id": "alpha", "to_user_id": "user-alpha",
                                                    "items": [{"type": "text", "text": "An agent's answer"}]})
    sent = OutboundMessage.objects.filter(account=w.a, payload__content="An agent's answer").exists()
    return api_answer(resp, hidden_field="account_id"), sent
def admin_agentsettings_view(c, w):
    from wechat_app.models import AgentSettings

    AgentSettings.objects.create(account=w.a, mode="inbox", callback_url="https://agent-alpha.example/events")
    resp = c.get(f"/admin/wechat_app/account/{w.a.pk}/change/")
    shown = resp.status_code == 200 and "agent-alpha.example" in resp.content.decode()
    answer = admin_answer(resp)
    return (answer if answer != ALLOW or shown else "settings not shown"), None


def admin_agentsettings_change(c, w):
    from wechat_app.models import AgentSettings

    resp = c.post(f"/admin/wechat_app/account/{w.a.pk}/change/", _account_post(
        w.a, **{"agent_settings-TOTAL_FORMS": "1", "agent_settings-0-mode": "inbox",
                "agent_settings-0-scope": "all", "agent_settings-0-callback_url": "",
                "agent_settings-0-shared_secret": "", "agent_settings-0-max_attempts": "5",
                "agent_settings-0-account": str(w.a.pk), "agent_settings-0-id": ""}))
    return (admin_answer(resp, form_errors=_change_form_errors),
            AgentSettings.objects.filter(account=w.a, mode="inbox", scope="all").exists())


def api_agentsettings_view(c, w):
    from wechat_app.models import AgentSettings

    AgentSettings.objects.create(account=w.a, mode="inbox", shared_secret="agent-alpha-secret")
    resp = c.get(f"{API}/accounts/alpha/agent/")
    answer = api_answer(resp)
    if answer == ALLOW and (resp.json().get("mode") != "inbox" or "agent-alpha-secret" in resp.content.decode()):
        answer = f"unexpected body {resp.content[:200]!r}"
    return answer, None


def api_agentsettings_change(c, w):
    from wechat_app.models import AgentSettings

    resp = _send(c, "put", f"{API}/accounts/alpha/agent/", {"mode": "inbox", "scope": "all"})
    return api_answer(resp), AgentSettings.objects.filter(account=w.a, mode="inbox", scope="all").exists()


def _ilink(w):
    """An iLink bot and a finished QR login on account alpha (no network: nothing is polled)."""
    from datetime import timedelta

    from django.utils import timezone

    from wechat_app.models import ILinkBot, ILinkLogin

    bot = ILinkBot.objects.create(account=w.a, bot_token="secret-bot-token", bot_id="alpha-bot@im.bot",
                                  api_base_url="http://127.0.0.1:9")
    login = ILinkLogin.objects.create(account_name="alpha", account=w.a, api_base_url="http://127.0.0.1:9",
                                      qrcode="q", qrcode_content="c", status="confirmed",
                                      expires_at=timezone.now() + timedelta(minutes=10))
    return bot, login


def admin_ilinkbot_list(c, w):
    _ilink(w)
    return _admin_listed(c, "ilinkbot", "alpha-bot@im.bot"), None


def admin_ilinkbot_view(c, w):
    bot, _ = _ilink(w)
    return admin_answer(c.get(f"/admin/wechat_app/ilinkbot/{bot.pk}/change/")), None


def admin_ilinkbot_poll_stop(c, w):
    from django.contrib.admin import helpers

    bot, _ = _ilink(w)
    resp = c.post("/admin/wechat_app/ilinkbot/", {"action": "disable_polling", helpers.ACTION_CHECKBOX_NAME: [bot.pk]})
    bot.refresh_from_db()
    return admin_action_answer(resp), not bot.polling_enabled


def admin_ilinklogin_view(c, w):
    _, login = _ilink(w)
    return admin_answer(c.get(f"/admin/wechat_app/ilinkbot/login/{login.session_id}/")), None


def api_ilinkbot_list(c, w):
    _ilink(w)
    resp = c.get(f"{API}/ilink-bots/")
    return api_answer(resp, listed="alpha-bot@im.bot" in _names(resp, "bot_id")), None


def api_ilinkbot_view(c, w):
    bot, _ = _ilink(w)
    return api_answer(c.get(f"{API}/ilink-bots/{bot.pk}/")), None


def api_ilinkbot_poll_stop(c, w):
    bot, _ = _ilink(w)
    resp = _send(c, "post", f"{API}/ilink-bots/poll/stop/", {"accounts": ["alpha"]})
    bot.refresh_from_db()
    return api_answer(resp, hidden_field="accounts"), not bot.polling_enabled


def api_ilinklogin_view(c, w):
    _, login = _ilink(w)
    return api_answer(c.get(f"{API}/ilink-logins/{login.session_id}/")), None


def _surface(prefix):
    names = {"rules.import_dry_run": "import_dry_run", "rules.import": "import", "rules.export": "export"}
    return {action: globals()[f"{prefix}_{names.get(action, action.replace('.', '_'))}"] for action in TABLE}


ADMIN = _surface("admin")
API_ACTIONS = _surface("api")
SURFACES = {"admin": ADMIN, "api": API_ACTIONS}
# Actions that must not write even when allowed.
READ_ONLY = {"rules.import_dry_run", "rule.test"}


def expected(action, who, surface):
    cell = TABLE[action][USERS.index(who)]
    return cell[surface] if isinstance(cell, dict) else cell


CASES = [pytest.param(surface, action, who, id=f"{surface}-{action}-{who}")
         for surface, actions in SURFACES.items() for action in actions for who in USERS]


TOKEN_MATRIX = [pytest.param(action, who, id=f"token-{action}-{who}")
                for action in API_ACTIONS for who in (*USERS, *TOKEN_CASES)]


@pytest.mark.parametrize("action, who", TOKEN_MATRIX)
def test_access_matrix_with_api_tokens(client, world, action, who):
    want = token_expected(action, who)
    answer, effect = API_ACTIONS[action](token_login(client, who, world), world)
    assert answer == want, f"{who}'s token {action}: expected {want}, got {answer}"
    if effect is not None:
        assert effect == (want == ALLOW and action not in READ_ONLY), f"{who}'s token {action}: effect"


@pytest.mark.parametrize("surface, action, who", CASES)
def test_access_matrix(client, world, surface, action, who):
    want = expected(action, who, surface)
    answer, effect = SURFACES[surface][action](login(client, who, world), world)
    assert answer == want, f"{who} {action} on the {surface}: expected {want}, got {answer}"
    if effect is not None:
        assert effect == (want == ALLOW and action not in READ_ONLY), f"{who} {action} on the {surface}: effect"


def test_the_table_is_complete():
    assert all(len(row) == len(USERS) for row in TABLE.values())
    assert set(API_ACTIONS) == set(TABLE) and set(ADMIN) == set(TABLE)
