"""Outbound admin actions and buttons declare permissions (issue 7, item 11): a view-only member
sees and does nothing that changes state; an editor of the account can; nobody reaches another
account's objects."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission

from wechat_app.models import Account, AccountMembership, Campaign, Follower, OutboundMessage, Template
from wechat_app.services import outbound

from .conftest import APP_ID

MODELS = ["campaign", "outboundmessage", "template", "follower"]


def _member(django_user_model, name, account, actions):
    user = django_user_model.objects.create_user(name, f"{name}@example.com", "pw-12345678", is_staff=True)
    codenames = [f"{action}_{model}" for model in MODELS for action in actions]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app",
                                                        codename__in=codenames + ["view_account"]))
    AccountMembership.objects.create(user=user, account=account)
    return user


@pytest.fixture
def other_account(db):
    return Account.objects.create(name="other", app_id="wxother000001", app_secret="s" * 32, token="tok456")


@pytest.fixture
def viewer(client, django_user_model, account):
    client.force_login(_member(django_user_model, "viewer", account, ["view"]))
    return client


@pytest.fixture
def editor(client, django_user_model, account):
    client.force_login(_member(django_user_model, "editor", account, ["view", "change", "add"]))
    return client


@pytest.fixture
def campaign(sandbox, account, followers):
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}", template_id="tpl1")
    outbound.sync_templates(account)
    return outbound.create_campaign(account, "C", "tpl1", {"first": "x"}, openids=followers)


def _actions(client, model):
    response = client.get(f"/admin/wechat_app/{model}/")
    assert response.status_code == 200
    form = response.context.get("action_form")
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def test_viewer_is_offered_no_action_and_no_button(viewer, campaign):
    OutboundMessage.objects.create(account=campaign.account, kind="text", to_user="o1", payload={"content": "x"},
                                   status="failed")
    Follower.objects.create(account=campaign.account, openid="o1")
    for model in MODELS:
        assert _actions(viewer, model) == set(), model
    for model in ("template", "follower"):
        assert "/sync/" not in viewer.get(f"/admin/wechat_app/{model}/").content.decode()
    page = viewer.get(f"/admin/wechat_app/campaign/{campaign.pk}/change/").content.decode()
    assert "/start/" not in page and "/cancel/" not in page and "/test/" not in page
    assert 'name="_save"' not in page


def test_editor_is_offered_the_actions(editor, campaign):
    assert _actions(editor, "campaign") == {"start", "pause", "cancel"}
    assert _actions(editor, "outboundmessage") == {"resend"}
    assert _actions(editor, "template") == {"sync"}
    Follower.objects.create(account=campaign.account, openid="o1")
    assert _actions(editor, "follower") == {"sync", "add_tag", "remove_tag", "blacklist", "unblacklist"}
    page = editor.get(f"/admin/wechat_app/campaign/{campaign.pk}/change/").content.decode()
    assert f"/admin/wechat_app/campaign/{campaign.pk}/start/" in page


def test_viewer_cannot_cancel_a_campaign(viewer, campaign):
    viewer.post("/admin/wechat_app/campaign/", {"action": "cancel", ACTION_CHECKBOX_NAME: [campaign.pk]})
    assert viewer.post(f"/admin/wechat_app/campaign/{campaign.pk}/cancel/").status_code == 403
    assert viewer.post(f"/admin/wechat_app/campaign/{campaign.pk}/start/").status_code == 403
    assert viewer.post(f"/admin/wechat_app/campaign/{campaign.pk}/test/", {"openid": "o1"}).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not OutboundMessage.objects.exists()


def test_viewer_cannot_resend_or_sync(viewer, sandbox, account):
    message = OutboundMessage.objects.create(account=account, kind="text", to_user="o1", payload={"content": "x"},
                                             status="failed")
    viewer.post("/admin/wechat_app/outboundmessage/", {"action": "resend", ACTION_CHECKBOX_NAME: [message.pk]})
    message.refresh_from_db()
    assert message.status == "failed"
    sandbox.state.add_template(APP_ID, "T2", "{{a.DATA}}")
    assert viewer.post("/admin/wechat_app/template/sync/").status_code == 403
    assert viewer.post("/admin/wechat_app/follower/sync/").status_code == 403
    assert not Template.objects.exists() and not Follower.objects.exists()


def test_editor_cancels_through_the_action_and_the_button(editor, campaign, account, followers):
    editor.post("/admin/wechat_app/campaign/", {"action": "cancel", ACTION_CHECKBOX_NAME: [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    second = outbound.create_campaign(account, "C2", "tpl1", {"first": "y"}, openids=followers)
    response = editor.post(f"/admin/wechat_app/campaign/{second.pk}/cancel/")
    assert response.status_code == 302 and response.url == f"/admin/wechat_app/campaign/{second.pk}/change/"
    second.refresh_from_db()
    assert second.status == Campaign.Status.CANCELLED
    assert editor.get(f"/admin/wechat_app/campaign/{second.pk}/cancel/").status_code == 403  # POST only


def test_editor_cannot_reach_another_accounts_campaign_or_sync_it(editor, campaign, other_account):
    template = Template.objects.create(account=other_account, template_id="t-other", title="O", content="{{a.DATA}}",
                                       keywords=["a"])
    theirs = Campaign.objects.create(account=other_account, name="theirs", template=template, data={"a": "x"},
                                     openids=["o1"])
    assert editor.post(f"/admin/wechat_app/campaign/{theirs.pk}/cancel/").status_code == 404
    editor.post("/admin/wechat_app/campaign/", {"action": "cancel", ACTION_CHECKBOX_NAME: [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.status == Campaign.Status.DRAFT
    assert editor.post("/admin/wechat_app/template/sync/", {"account": other_account.pk}).status_code == 404
    # the form offers only the editor's templates, and refuses another account's
    form = editor.get("/admin/wechat_app/campaign/add/").context["adminform"].form
    assert list(form.fields["template"].queryset) == [campaign.template]
    response = editor.post("/admin/wechat_app/campaign/add/", {
        "name": "sneaky", "template": template.pk, "data__a": "x", "audience": "list", "openids": "o1"})
    assert response.status_code == 200 and "template" in response.context["adminform"].form.errors
    assert not Campaign.objects.filter(name="sneaky").exists()
    progress = editor.get(f"/admin/wechat_app/campaign/progress/?id={theirs.pk}&id={campaign.pk}").json()
    assert list(progress) == [str(campaign.pk)]


def test_staff_without_account_gets_no_sync(client, django_user_model, sandbox, account):
    user = django_user_model.objects.create_user("lonely", "l@example.com", "pw-12345678", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_template", "change_template"]))
    client.force_login(user)
    assert client.post("/admin/wechat_app/template/sync/").status_code == 403
