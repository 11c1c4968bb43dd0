"""The audience admin against the sandbox: tags, follower actions and filter, remarks, mass
messages (quota shown and refused before WeChat, preview, send), kf accounts."""
import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages

from tests.mass.conftest import APP_ID
from wechat_app.models import Account, Follower, KfAccount, MassMessage, Tag
from wechat_app.services import audience

pytestmark = pytest.mark.django_db


def notes(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_tags_create_rename_delete_and_sync(admin_client, sandbox, account):
    response = admin_client.post("/admin/wechat_app/tag/add/", {"account": account.pk, "name": "VIP"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    tag = Tag.objects.get(account=account, name="VIP")
    assert sandbox.state.tags[APP_ID] == {tag.tag_id: "VIP"}
    response = admin_client.post("/admin/wechat_app/tag/add/", {"account": account.pk, "name": "VIP"})
    assert "already" in str(response.context["adminform"].form.errors["name"])
    response = admin_client.post("/admin/wechat_app/tag/add/", {"account": account.pk, "name": "x" * 31})
    assert response.status_code == 200 and Tag.objects.count() == 1
    response = admin_client.post(f"/admin/wechat_app/tag/{tag.pk}/change/", {"name": "Gold"})
    assert response.status_code == 302 and sandbox.state.tags[APP_ID][tag.tag_id] == "Gold"
    sandbox.state.add_tag(APP_ID, "From WeChat", 300)
    response = admin_client.post("/admin/wechat_app/tag/sync/", {"account": account.pk})
    assert any("2 tag(s) synced" in n for n in notes(response))
    response = admin_client.post(f"/admin/wechat_app/tag/{tag.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and tag.tag_id not in sandbox.state.tags[APP_ID]
    assert list(Tag.objects.values_list("name", flat=True)) == ["From WeChat"]


def test_follower_actions_filter_and_remark(admin_client, sandbox, account, followers):
    tag = audience.create_tag(account, "VIP")
    changelist = "/admin/wechat_app/follower/"
    pks = list(Follower.objects.filter(openid__in=followers[:3]).values_list("pk", flat=True))
    page = admin_client.get(changelist).content.decode()
    assert f'<option value="{tag.pk}">VIP (0)</option>' in page  # the action bar offers the tags
    response = admin_client.post(changelist, {"action": "add_tag", "tag": tag.pk, helpers.ACTION_CHECKBOX_NAME: pks})
    assert any("tagged 3 follower(s) in 1 call(s)" in n for n in notes(response))
    assert all(tag.tag_id in sandbox.state.followers[APP_ID][o].tagid_list for o in followers[:3])
    listed = admin_client.get(changelist + f"?tag={tag.pk}")
    assert listed.context["cl"].result_count == 3
    assert ">VIP<" in listed.content.decode() or "VIP</td>" in listed.content.decode()
    assert admin_client.get(changelist + "?tag=abc").status_code == 302  # a bad lookup: ?e=1
    response = admin_client.post(changelist, {"action": "add_tag", "tag": "", helpers.ACTION_CHECKBOX_NAME: pks})
    assert any("Choose a tag" in n for n in notes(response))
    first = Follower.objects.get(openid=followers[0]).pk
    admin_client.post(changelist, {"action": "remove_tag", "tag": tag.pk, helpers.ACTION_CHECKBOX_NAME: [first]})
    assert tag.tag_id not in sandbox.state.followers[APP_ID][followers[0]].tagid_list
    admin_client.post(changelist, {"action": "blacklist", "tag": "", helpers.ACTION_CHECKBOX_NAME: pks})
    assert sum(f.blacklisted for f in sandbox.state.followers[APP_ID].values()) == 3
    assert Follower.objects.filter(blacklisted=True).count() == 3
    follower = Follower.objects.get(openid=followers[0])
    response = admin_client.post(f"/admin/wechat_app/follower/{follower.pk}/change/", {"remark": "Big buyer"})
    assert response.status_code == 302 and sandbox.state.followers[APP_ID][followers[0]].remark == "Big buyer"
    response = admin_client.post(f"/admin/wechat_app/follower/{follower.pk}/change/", {"remark": "y" * 31})
    assert "at most 30" in str(response.context["adminform"].form.errors["remark"])


def mass_post(account, **changes):
    data = {"account": account.pk, "name": "Spring sale", "audience": "all", "tag": "", "openids": "",
            "kind": "text", "text": "Spring sale: 20% off", "media_id": "", "card_id": ""}
    data.update(changes)
    return data


def test_mass_message_draft_preview_send_and_quota(admin_client, sandbox, account, followers,
                                                   django_capture_on_commit_callbacks):
    Account.objects.filter(pk=account.pk).update(kind="subscription")
    page = admin_client.get("/admin/wechat_app/massmessage/add/").content.decode()
    assert "0 / 1 today" in page and "transactional notices" in page
    response = admin_client.post("/admin/wechat_app/massmessage/add/", mass_post(account, audience="tag"))
    assert "needs a tag" in str(response.context["adminform"].form.errors["tag"])
    response = admin_client.post("/admin/wechat_app/massmessage/add/", mass_post(account, kind="voice"))
    assert "needs media_id" in str(response.context["adminform"].form.errors["media_id"])
    response = admin_client.post("/admin/wechat_app/massmessage/add/", mass_post(account))
    assert response.status_code == 302
    mass = MassMessage.objects.get()
    assert (mass.status, mass.content, mass.created_by.username) == ("draft", {"content": "Spring sale: 20% off"},
                                                                     "admin")
    base = f"/admin/wechat_app/massmessage/{mass.pk}/"
    page = admin_client.get(base + "change/").content.decode()
    assert f'action="{base}send/"' in page and f'action="{base}preview/"' in page
    response = admin_client.post(base + "preview/", {"openid": followers[0]})
    assert any("Preview sent" in n for n in notes(response)) and len(sandbox.state.mass.previews) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(base + "send/")
    assert any("queued" in n for n in notes(response))
    mass.refresh_from_db()
    assert mass.status == "submitted" and mass.msg_id
    page = admin_client.get(base + "change/").content.decode()
    assert 'name="_save"' not in page and "1 / 1 today" in page and "used up" in page
    # The quota is used: the next send is refused before WeChat is called.
    admin_client.post("/admin/wechat_app/massmessage/add/", mass_post(account, name="Again"))
    again = MassMessage.objects.get(name="Again")
    response = admin_client.post(f"/admin/wechat_app/massmessage/{again.pk}/send/")
    assert any("1 of 1 mass send(s) used this day" in n for n in notes(response))
    assert len(sandbox.state.list_calls("/cgi-bin/message/mass/sendall")) == 1
    response = admin_client.post(base + "refresh/")
    assert any("SEND_SUCCESS" in n for n in notes(response))


def test_kf_accounts(admin_client, sandbox, account):
    response = admin_client.post("/admin/wechat_app/kfaccount/add/", {"account": account.pk,
                                                                       "kf_account": "alice@gh_shop",
                                                                       "nickname": "Alice"})
    assert response.status_code == 302
    assert "alice@gh_shop" in sandbox.state.mass.kf[APP_ID]
    response = admin_client.post("/admin/wechat_app/kfaccount/add/", {"account": account.pk,
                                                                       "kf_account": "alice@gh_shop",
                                                                       "nickname": "Alice"})
    assert "exists" in str(response.context["adminform"].form.errors)
    response = admin_client.post("/admin/wechat_app/kfaccount/add/", {"account": account.pk,
                                                                       "kf_account": "no-at-sign",
                                                                       "nickname": "Bob"})
    assert "prefix@" in str(response.context["adminform"].form.errors["kf_account"])
    kf = KfAccount.objects.get()
    admin_client.post(f"/admin/wechat_app/kfaccount/{kf.pk}/change/", {"nickname": "Alice B"})
    assert sandbox.state.mass.kf[APP_ID]["alice@gh_shop"]["kf_nick"] == "Alice B"
    sandbox.state.mass.kf[APP_ID]["bob@gh_shop"] = {"kf_account": "bob@gh_shop", "kf_nick": "Bob", "kf_id": "7"}
    response = admin_client.post("/admin/wechat_app/kfaccount/sync/", {"account": account.pk})
    assert any("2 kf account(s) synced" in n for n in notes(response))
    admin_client.post(f"/admin/wechat_app/kfaccount/{kf.pk}/delete/", {"post": "yes"})
    assert list(sandbox.state.mass.kf[APP_ID]) == ["bob@gh_shop"]
    assert list(KfAccount.objects.values_list("kf_account", flat=True)) == ["bob@gh_shop"]


def test_the_account_type_is_edited_in_the_admin_and_the_api(admin_client, account):
    page = admin_client.get(f"/admin/wechat_app/account/{account.pk}/change/").content.decode()
    assert 'name="kind"' in page and "Subscription account" in page
    response = admin_client.patch(f"/wechat/api/accounts/{account.name}/", {"account_type": "subscription"},
                                  content_type="application/json")
    assert response.status_code == 200 and response.json()["account_type"] == "subscription"
    account.refresh_from_db()
    assert account.kind == "subscription"
    response = admin_client.patch(f"/wechat/api/accounts/{account.name}/", {"account_type": "bogus"},
                                  content_type="application/json")
    assert response.status_code == 400
