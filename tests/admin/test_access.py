"""Per-account access: a staff user limited to one account sees nothing of another, anywhere."""
import pytest

from wechat_app.models import Rule

from .conftest import make_log, make_rule
from .helpers import ADD_URL, rule_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(account_a, account_b):
    ra, rb = make_rule(account_a, "rule-alpha"), make_rule(account_b, "rule-beta")
    la = make_log(account_a, user="user-alpha", text="alpha text", rule=ra)
    lb = make_log(account_b, user="user-beta", text="beta text", rule=rb)
    return ra, rb, la, lb


def test_rule_list_shows_only_granted_accounts(staff_client, data):
    html = staff_client.get("/admin/wechat_app/rule/").content.decode()
    assert "rule-alpha" in html and "rule-beta" not in html
    # neither the filters nor the export buttons even name the other account
    assert "beta" not in html


def test_other_accounts_rule_cannot_be_opened_changed_or_deleted(staff_client, data):
    _, rb, _, _ = data
    for url in (f"/admin/wechat_app/rule/{rb.pk}/change/", f"/admin/wechat_app/rule/{rb.pk}/delete/"):
        response = staff_client.get(url)
        assert response.status_code == 302 and "rule-beta" not in response.content.decode()
    response = staff_client.post(f"/admin/wechat_app/rule/{rb.pk}/change/", rule_post(rb.account, name="hijack"))
    assert response.status_code == 302
    rb.refresh_from_db()
    assert rb.name == "rule-beta"


def test_staff_cannot_create_rules_in_other_accounts(staff_client, account_a, account_b):
    response = staff_client.get(ADD_URL)
    choices = [str(c[1]) for c in response.context["adminform"].form.fields["account"].choices]
    assert "alpha" in choices and "beta" not in choices
    response = staff_client.post(ADD_URL, rule_post(account_b, name="sneaky"))
    assert response.status_code == 200
    assert "account" in response.context["adminform"].form.errors
    assert not Rule.objects.filter(name="sneaky").exists()
    assert staff_client.post(ADD_URL, rule_post(account_a, name="fine")).status_code == 302


def test_bulk_actions_cannot_reach_other_accounts(staff_client, data):
    ra, rb, _, _ = data
    staff_client.post("/admin/wechat_app/rule/", {"action": "disable_rules", "_selected_action": [ra.pk, rb.pk]})
    ra.refresh_from_db(), rb.refresh_from_db()
    assert ra.enabled is False and rb.enabled is True


def test_message_log_is_scoped(staff_client, data):
    _, _, la, lb = data
    html = staff_client.get("/admin/wechat_app/messagelog/").content.decode()
    assert "user-alpha" in html and "user-beta" not in html
    assert staff_client.get(f"/admin/wechat_app/messagelog/{lb.pk}/change/").status_code == 302
    assert staff_client.get(f"/admin/wechat_app/messagelog/{la.pk}/change/").status_code == 200
    # the rule filter lists only granted rules
    assert "rule-beta" not in html


def test_conversation_dashboard_simulator_export_of_other_account_are_not_found(staff_client, data, account_b):
    """Another account's screens answer exactly as a missing account does: its ids cannot be probed."""
    missing = 999999
    for pk in (account_b.pk, missing):
        assert staff_client.get(f"/admin/wechat_app/messagelog/conversation/{pk}/?user=user-beta").status_code == 404
        assert staff_client.get(f"/admin/wechat_app/account/{pk}/dashboard/").status_code == 404
        assert staff_client.get(f"/admin/wechat_app/account/{pk}/check/").status_code == 404
        assert staff_client.get(f"/admin/wechat_app/rule/export/{pk}/").status_code == 404
        assert staff_client.get(f"/admin/wechat_app/rule/simulator/?account={pk}").status_code == 404
        sim = staff_client.post("/admin/wechat_app/rule/simulator/", {"account": pk, "user": "u", "kind": "text",
                                                                      "text": "hi", "action": "send"})
        assert sim.status_code == 404
        assert staff_client.post(f"/admin/wechat_app/account/{pk}/secret/token/").status_code == 404
    assert staff_client.get(f"/admin/wechat_app/account/{account_a_pk(data)}/secret/token/").status_code == 405


def test_granted_account_screens_work(staff_client, data, account_a):
    pk = account_a.pk
    assert staff_client.get(f"/admin/wechat_app/messagelog/conversation/{pk}/?user=user-alpha").status_code == 200
    assert staff_client.get(f"/admin/wechat_app/account/{pk}/dashboard/").status_code == 200
    assert staff_client.get(f"/admin/wechat_app/account/{pk}/check/").status_code == 200


def test_account_list_and_change_are_scoped(staff_client, account_a, account_b):
    html = staff_client.get("/admin/wechat_app/account/").content.decode()
    assert ">alpha<" in html and ">beta<" not in html
    assert staff_client.get(f"/admin/wechat_app/account/{account_b.pk}/change/").status_code == 302
    assert staff_client.get(f"/admin/wechat_app/account/{account_a.pk}/change/").status_code == 200


def test_staff_without_membership_sees_nothing(client, django_user_model, data):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("nobody", password="pw-nobody-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app"))
    client.force_login(user)
    html = client.get("/admin/wechat_app/rule/").content.decode()
    assert "rule-alpha" not in html and "rule-beta" not in html
    assert client.get(ADD_URL).status_code == 403  # no account to add to
    assert "user-alpha" not in client.get("/admin/wechat_app/messagelog/").content.decode()


def test_superuser_sees_every_account(admin_client_, data):
    html = admin_client_.get("/admin/wechat_app/rule/").content.decode()
    assert "rule-alpha" in html and "rule-beta" in html




def test_model_permissions_still_apply(client, django_user_model, account_a, data):
    """Membership grants an account, not rights: a view-only member cannot change rules."""
    from django.contrib.auth.models import Permission

    from wechat_app.models import AccountMembership

    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_rule"]))
    AccountMembership.objects.create(user=viewer, account=account_a)
    client.force_login(viewer)
    ra = data[0]
    assert client.get(f"/admin/wechat_app/rule/{ra.pk}/change/").status_code == 200
    client.post(f"/admin/wechat_app/rule/{ra.pk}/change/", rule_post(account_a, name="renamed"))
    ra.refresh_from_db()
    assert ra.name == "rule-alpha"
    assert client.get("/admin/wechat_app/rule/import/").status_code == 403


def account_a_pk(data):
    return data[0].account_id


def test_view_only_member_sees_the_account_page_without_its_secrets(client, django_user_model, account_a):
    """The read-only change page used to fail (500); showing it read-only must not reveal the secrets."""
    from django.contrib.auth.models import Permission

    from wechat_app.models import AccountMembership

    viewer = django_user_model.objects.create_user("viewer", password=None, is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_account"]))
    AccountMembership.objects.create(user=viewer, account=account_a)
    client.force_login(viewer)
    response = client.get(f"/admin/wechat_app/account/{account_a.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "••••••••" in html and "/wechat/callback/alpha/" in html
    for secret in (account_a.app_secret, account_a.token, account_a.encoding_aes_key):
        assert secret not in html


def test_import_needs_add_and_change_for_a_preview_too_and_delete_to_replace(client, django_user_model, account_a):
    """Issue 7, item 5: a preview (dry run) does all of an import's work, so it needs the same rights."""
    from django.contrib.auth.models import Permission

    from wechat_app.models import AccountMembership

    url = "/admin/wechat_app/rule/import/"
    make_rule(account_a, "old", value="old")
    user = django_user_model.objects.create_user("importer", password=None, is_staff=True)
    AccountMembership.objects.create(user=user, account=account_a)
    rules = "- name: new\n  match: {exact: new}\n  reply: New\n"

    def as_user(*codenames):
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app",
                                                            codename__in=codenames))
        client.force_login(django_user_model.objects.get(pk=user.pk))
        return client

    viewer = as_user("view_rule")
    assert viewer.post(url, {"account": account_a.pk, "text": rules}).status_code == 403  # the preview
    assert "/rule/import/" not in viewer.get("/admin/wechat_app/rule/").content.decode()
    editor = as_user("view_rule", "add_rule", "change_rule")
    assert editor.post(url, {"account": account_a.pk, "text": rules}).context["preview"] is not None
    for extra in ({}, {"confirm": "1"}):
        response = editor.post(url, {"account": account_a.pk, "text": rules, "replace": "on", **extra})
        assert response.status_code == 200 and response.context["preview"] is None
        assert "delete rules" in str(response.context["form"].errors["replace"])
    assert sorted(Rule.objects.values_list("name", flat=True)) == ["old"]
    editor = as_user("view_rule", "add_rule", "change_rule", "delete_rule")
    assert editor.post(url, {"account": account_a.pk, "text": rules, "replace": "on", "confirm": "1"}).status_code == 302
    assert sorted(Rule.objects.values_list("name", flat=True)) == ["new"]
