"""The REST API of tags, mass messages and kf accounts, against the sandbox."""
import pytest

from tests.api_errors import code, error_fields, message
from tests.mass.conftest import APP_ID
from wechat_app.models import Account, Follower, MassMessage, Tag

pytestmark = pytest.mark.django_db
API = "/wechat/api/"


def post(client, url, data=None):
    return client.post(API + url, data or {}, content_type="application/json")


def test_tags_crud_members_and_blacklist(admin_client, sandbox, account, followers):
    response = post(admin_client, "tags/", {"account": account.name, "name": "VIP"})
    assert response.status_code == 201, response.json()
    tag = response.json()
    assert sandbox.state.tags[APP_ID] == {tag["tag_id"]: "VIP"}
    response = post(admin_client, "tags/", {"account": account.name, "name": "VIP"})
    assert response.status_code == 400 and "already" in str(error_fields(response)["name"])
    response = post(admin_client, "tags/", {"account": account.name, "name": "x" * 31})
    assert response.status_code == 400
    response = admin_client.patch(API + f"tags/{tag['id']}/", {"name": "Gold"}, content_type="application/json")
    assert response.status_code == 200 and sandbox.state.tags[APP_ID][tag["tag_id"]] == "Gold"
    response = post(admin_client, f"tags/{tag['id']}/tag/", {"openids": followers})
    assert response.status_code == 200 and response.json() == {"done": 5, "batches": 1, "failed": []}
    assert Tag.objects.get(pk=tag["id"]).count == 5
    assert post(admin_client, f"tags/{tag['id']}/untag/", {"openids": ["bad openid"]}).status_code == 400
    response = post(admin_client, f"tags/{tag['id']}/untag/", {"openids": followers[:2] + ["onotafollower1"]})
    assert response.status_code == 207 and response.json()["failed"][0]["errcode"] == 40003
    response = post(admin_client, "tags/blacklist/", {"account": account.name, "openids": followers[:2]})
    assert response.status_code == 200 and Follower.objects.filter(blacklisted=True).count() == 2
    sandbox.state.add_tag(APP_ID, "Other", 400)
    assert post(admin_client, "tags/sync/", {"account": account.name}).json() == {"synced": 2, "removed": 0}
    assert post(admin_client, "tags/sync/", {"account": "nope"}).status_code == 400
    assert admin_client.delete(API + f"tags/{tag['id']}/").status_code == 204
    assert tag["tag_id"] not in sandbox.state.tags[APP_ID]


def test_mass_messages(admin_client, sandbox, account, followers, django_capture_on_commit_callbacks):
    Account.objects.filter(pk=account.pk).update(kind="subscription")
    body = {"account": account.name, "name": "News", "audience": "list", "openids": followers[:3],
            "msgtype": "mpnews", "content": {"media_id": "news1"}, "send_ignore_reprint": True}
    response = post(admin_client, "mass-messages/", dict(body, openids=followers[:1]))
    assert response.status_code == 400 and "2 to 10,000" in str(error_fields(response)["openids"])
    response = post(admin_client, "mass-messages/", dict(body, msgtype="voice", content={}))
    assert response.status_code == 400 and "media_id" in str(error_fields(response)["content"])
    response = post(admin_client, "mass-messages/", body)
    assert response.status_code == 201, response.json()
    mass = response.json()
    assert mass["status"] == "draft" and mass["created_by"] == "admin"
    response = post(admin_client, f"mass-messages/{mass['id']}/preview/", {"openid": followers[0]})
    assert response.status_code == 200 and response.json()["msg_id"]
    assert post(admin_client, f"mass-messages/{mass['id']}/preview/", {"openid": "onotafollower1"}).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = post(admin_client, f"mass-messages/{mass['id']}/send/")
    assert response.status_code == 200 and response.json()["status"] == "queued"
    sent = admin_client.get(API + f"mass-messages/{mass['id']}/").json()
    assert sent["status"] == "submitted" and sent["msg_id"] and sent["msg_data_id"]
    assert admin_client.get(API + "mass-messages/quota/").json() == [
        {"account": account.name, "kind": "subscription", "limit": 1, "period": "day", "used": 1, "left": 0}]
    second = post(admin_client, "mass-messages/", dict(body, name="Again")).json()
    response = post(admin_client, f"mass-messages/{second['id']}/send/")
    assert response.status_code == 400 and "1 of 1 mass send" in str(response.json())
    assert post(admin_client, f"mass-messages/{mass['id']}/refresh/").json()["status"] == "done"
    response = post(admin_client, f"mass-messages/{mass['id']}/delete-remote/")
    assert response.json()["status"] == "deleted"
    response = admin_client.delete(API + f"mass-messages/{mass['id']}/")
    assert response.status_code == 409 and code(response) == "conflict"  # the record stays
    assert "only drafts are deleted" in message(response)
    assert admin_client.delete(API + f"mass-messages/{second['id']}/").status_code == 204
    assert list(MassMessage.objects.values_list("pk", flat=True)) == [mass["id"]]
    assert admin_client.get(API + "mass-messages/?status=bogus").status_code == 400
    (listed,) = admin_client.get(API + "mass-messages/").json()["results"]
    assert listed["openid_count"] == 3 and "openids" not in listed  # the list stays small
    assert admin_client.get(API + f"mass-messages/{mass['id']}/").json()["openids"] == followers[:3]


def test_kf_accounts(admin_client, sandbox, account):
    response = post(admin_client, "kf-accounts/", {"account": account.name, "kf_account": "alice@gh_shop",
                                                   "nickname": "Alice"})
    assert response.status_code == 201, response.json()
    kf = response.json()
    response = post(admin_client, "kf-accounts/", {"account": account.name, "kf_account": "alice@gh_shop",
                                                   "nickname": "Alice"})
    assert response.status_code == 400 and "65406" in str(response.json())
    response = post(admin_client, "kf-accounts/", {"account": account.name, "kf_account": "x@y",
                                                   "nickname": "n" * 17})
    assert response.status_code == 400
    response = admin_client.patch(API + f"kf-accounts/{kf['id']}/", {"nickname": "Al"}, content_type="application/json")
    assert response.status_code == 200 and sandbox.state.mass.kf[APP_ID]["alice@gh_shop"]["kf_nick"] == "Al"
    sandbox.state.mass.config["kf_enabled"] = False
    response = post(admin_client, "kf-accounts/sync/", {"account": account.name})
    assert response.status_code == 400 and "65400" in str(response.json())
    sandbox.state.mass.config["kf_enabled"] = True
    assert post(admin_client, "kf-accounts/sync/", {"account": account.name}).json() == {"synced": 1, "deactivated": 0}
    assert admin_client.delete(API + f"kf-accounts/{kf['id']}/").status_code == 204
    assert sandbox.state.mass.kf[APP_ID] == {}
