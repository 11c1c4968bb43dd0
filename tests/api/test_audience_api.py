"""Templates, campaigns and followers over the REST API, against the sandbox."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from tests.api.outbound_fixtures import *  # noqa: F403  (fixtures)
from tests.api.outbound_fixtures import _eager_celery  # noqa: F401  (autouse fixture; "*" skips it)
from tests.api.outbound_fixtures import API, APP_ID, TEMPLATE_CONTENT, post
from tests.api_errors import code, error_fields, message
from wechat_app.models import Account, AccountMembership, Campaign, Follower, SyncJob, Template
from wechat_app.services import outbound

pytestmark = pytest.mark.django_db


# ---- templates ----------------------------------------------------------------------------------------------

def test_template_sync_is_a_job_to_poll(api, sandbox, shop, django_capture_on_commit_callbacks):
    sandbox.state.add_template(APP_ID, "Welcome", "{{first.DATA}}", template_id="tpl-welcome")
    Template.objects.create(account=shop, template_id="tpl-gone", title="Gone", content="{{x.DATA}}")
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, f"{API}/templates/sync/", {"account": "shop"})
    assert resp.status_code == 202, resp.content
    job = resp.json()
    assert job["status"] == "queued" and job["kind"] == "templates"
    assert resp["Location"] == job["url"] and job["url"].endswith(f"/wechat/api/templates/sync/{job['id']}/")
    polled = api.get(job["url"]).json()
    assert polled["status"] == "done" and polled["result"] == {"synced": 2, "deactivated": 1}
    listing = api.get(f"{API}/templates/", {"active": "true"}).json()["results"]
    assert sorted(t["template_id"] for t in listing) == ["tpl-shipped", "tpl-welcome"]
    shipped = next(t for t in listing if t["template_id"] == "tpl-shipped")
    assert shipped["keywords"] == ["first", "order", "remark"] and shipped["content"] == TEMPLATE_CONTENT
    assert api.get(f"{API}/templates/{shipped['id']}/").json()["title"] == "Order shipped"
    assert [t["template_id"] for t in api.get(f"{API}/templates/", {"active": "false"}).json()["results"]] == [
        "tpl-gone"]
    assert api.get(f"{API}/templates/", {"search": "welc"}).json()["count"] == 1


def test_a_failed_sync_says_why(api, sandbox, shop, django_capture_on_commit_callbacks):
    sandbox.state.add_fault("/cgi-bin/template/get_all_private_template", errcode=48001, count=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = post(api, f"{API}/templates/sync/", {"account": "shop"}).json()
    polled = api.get(job["url"]).json()
    assert polled["status"] == "failed" and "48001" in polled["error"]


def test_a_second_sync_while_one_is_under_way_answers_that_one(api, shop):
    first = post(api, f"{API}/templates/sync/", {"account": "shop"}).json()  # on commit: never runs here
    second = post(api, f"{API}/templates/sync/", {"account": "shop"})
    assert second.status_code == 202 and second.json()["id"] == first["id"]
    assert SyncJob.objects.count() == 1


@pytest.mark.parametrize("url, body, status, field", [
    ("templates/sync/", {"account": "nope"}, 400, "account"),
    ("templates/sync/", {}, 400, "account"),
    ("followers/sync/", {"account": "a\x00"}, 400, "account"),
])
def test_sync_of_an_unknown_account_is_refused(api, shop, url, body, status, field):
    resp = post(api, f"{API}/{url}", body)
    assert resp.status_code == status and field in error_fields(resp)
    assert not SyncJob.objects.exists()


def test_sync_jobs_of_other_accounts_and_kinds_are_not_found(client, api, shop):
    job = SyncJob.objects.create(account=shop, kind="templates")
    assert api.get(f"{API}/followers/sync/{job.pk}/").status_code == 404  # another kind
    assert api.get(f"{API}/templates/sync/{job.pk + 1}/").status_code == 404
    other = Account.objects.create(name="other", app_id="wxother0000000001", app_secret="x" * 16, token="tok9")
    user = get_user_model().objects.create_user("outsider", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_template", "change_template"]))
    AccountMembership.objects.create(user=user, account=other)
    client.force_login(user)
    assert client.get(f"{API}/templates/sync/{job.pk}/").status_code == 404
    assert post(client, f"{API}/templates/sync/", {"account": "shop"}).status_code == 400


@pytest.mark.parametrize("params, name", [({"account": "nope"}, "account"), ({"active": "yes"}, "active"),
                                          ({"search": "a\x00"}, "search")])
def test_template_filters_refuse_unknown_values(api, shop, params, name):
    resp = api.get(f"{API}/templates/", params)
    assert resp.status_code == 400 and name in error_fields(resp)


# ---- campaigns ----------------------------------------------------------------------------------------------

@pytest.fixture
def synced(shop):
    outbound.sync_templates(shop)
    return Template.objects.get(account=shop, template_id="tpl-shipped")


def campaign_body(fans, **changes):
    body = {"account": "shop", "name": "May news", "template_id": "tpl-shipped",
            "data": {"first": "Hello", "order": "May", "remark": "Bye"}, "audience": "list", "openids": fans}
    body.update(changes)
    return body


def test_campaign_lifecycle(api, sandbox, fans, synced, django_capture_on_commit_callbacks):
    resp = post(api, f"{API}/campaigns/", campaign_body(fans, rate_limit=50))
    assert resp.status_code == 201, resp.content
    campaign = resp.json()
    assert campaign["status"] == "draft" and campaign["template"]["template_id"] == "tpl-shipped"
    assert campaign["progress"]["total"] == 0
    url = f"{API}/campaigns/{campaign['id']}/"
    assert api.post(f"{url}resume/").status_code == 409
    assert api.post(f"{url}pause/").status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(f"{url}start/")
        assert started.status_code == 200 and started.json()["status"] == "running"
        assert started.json()["total"] == 3 and started.json()["progress"]["queued"] == 3
        paused = api.post(f"{url}pause/")
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        conflict = api.post(f"{url}start/")
        assert conflict.status_code == 409 and code(conflict) == "conflict" and "resume it" in message(conflict)
        resumed = api.post(f"{url}resume/")
        assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    done = api.get(url).json()
    assert done["status"] == "done", done
    assert done["progress"] | {"delivery": None} == {"queued": 0, "sending": 0, "sent": 3, "failed": 0,
                                                    "cancelled": 0, "total": 3, "done": 3, "percent": 100,
                                                    "delivery": None}
    assert len(sandbox.state.list_messages(APP_ID, kind="template")) == 3
    for operation in ("start", "pause", "resume", "cancel"):
        resp = api.post(f"{url}{operation}/")
        assert resp.status_code == 409 and code(resp) == "conflict" and message(resp).startswith("The campaign is done: only")
    recipients = api.get(f"{url}recipients/", {"status": "sent"}).json()
    assert sorted(r["to_user"] for r in recipients["results"]) == sorted(fans)
    assert api.get(f"{url}recipients/", {"status": "failed"}).json()["count"] == 0
    assert api.get(f"{url}recipients/", {"status": "lost"}).status_code == 400
    assert api.get(f"{API}/outbound-messages/", {"campaign": campaign["id"]}).json()["count"] == 3


def test_a_cancelled_draft_sends_nothing(api, sandbox, fans, synced):
    campaign = post(api, f"{API}/campaigns/", campaign_body(fans)).json()
    url = f"{API}/campaigns/{campaign['id']}/"
    resp = api.post(f"{url}cancel/")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert api.post(f"{url}start/").status_code == 409
    assert sandbox.state.list_messages() == []


@pytest.mark.parametrize("changes, field, words", [
    ({"data": {"first": "Hello", "order": "May"}}, "data", "missing template keyword(s): remark"),
    ({"data": {"first": "Hello", "order": "May", "remark": " "}}, "data", "Fill in every keyword"),
    ({"openids": []}, "openids", "at least one openid"),
    ({"openids": ["ok-openid", "bad openid"]}, "openids", "bad openid"),
    ({"audience": "tag"}, "tag_id", "needs a tag id"),
    ({"audience": "everyone"}, "audience", "valid choice"),
    ({"template_id": "tpl-unknown"}, "template_id", "not an active synced template"),
    ({"url": "javascript:alert(1)"}, "url", "valid URL"),
    ({"miniprogram": {"pagepath": "x"}}, "miniprogram", "appid"),
    ({"name": ""}, "name", "blank"),
    ({"account": "nope"}, "account", "nope"),
])
def test_campaigns_are_validated_as_in_the_admin(api, fans, synced, changes, field, words):
    resp = post(api, f"{API}/campaigns/", campaign_body(fans, **changes))
    assert resp.status_code == 400, resp.content
    fields = error_fields(resp)
    assert field in fields and words in str(fields[field]), fields
    assert not Campaign.objects.exists()


def test_campaign_filters(api, fans, synced):
    post(api, f"{API}/campaigns/", campaign_body(fans))
    assert api.get(f"{API}/campaigns/", {"status": "draft", "account": "shop"}).json()["count"] == 1
    assert api.get(f"{API}/campaigns/", {"status": "done"}).json()["count"] == 0
    assert api.get(f"{API}/campaigns/", {"status": "over"}).status_code == 400
    assert api.get(f"{API}/campaigns/", {"account": "nope"}).status_code == 400


def test_list_pages_count_the_openids_and_the_campaign_gives_them(api, fans, synced):
    many = [f"oMany{n:06d}" for n in range(2000)]
    big = post(api, f"{API}/campaigns/", campaign_body(fans, name="Big", openids=many)).json()
    small = post(api, f"{API}/campaigns/", campaign_body(fans, name="Small")).json()
    rows = {row["name"]: row for row in api.get(f"{API}/campaigns/").json()["results"]}
    assert {name: row["openid_count"] for name, row in rows.items()} == {"Big": 2000, "Small": len(fans)}
    assert not any("openids" in row for row in rows.values())
    detail = api.get(f"{API}/campaigns/{big['id']}/").json()
    assert detail["openids"] == many and detail["openid_count"] == 2000
    assert api.get(f"{API}/campaigns/{small['id']}/").json()["openids"] == fans


# ---- followers ----------------------------------------------------------------------------------------------

def test_follower_sync_with_progress_then_filters(api, sandbox, shop, django_capture_on_commit_callbacks):
    sandbox.state.configure(user_page_size=2)
    sandbox.state.add_followers(APP_ID, [
        {"openid": "oTagged0001", "tagid_list": [7], "remark": "VIP buyer", "subscribe_time": 1_700_000_000},
        {"openid": "oNicknamed01", "nickname": "Lucky Cat", "subscribe_time": 1_600_000_000}])
    Follower.objects.create(account=shop, openid="oLeftLongAgo", subscribed=True)
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, f"{API}/followers/sync/", {"account": "shop"})
    assert resp.status_code == 202 and resp.json()["kind"] == "followers"
    job = api.get(resp.json()["url"]).json()
    assert job["status"] == "done" and job["done"] == job["total"] == 5
    assert job["result"] == {"total": 5, "synced": 5, "unsubscribed": 1}

    def openids(**params):
        resp = api.get(f"{API}/followers/", params)
        assert resp.status_code == 200, resp.content
        return sorted(f["openid"] for f in resp.json()["results"])

    assert len(openids()) == 6
    assert openids(subscribed="false") == ["oLeftLongAgo"]
    assert openids(tag="7") == ["oTagged0001"]
    assert openids(search="vip") == ["oTagged0001"]
    assert openids(search="lucky") == ["oNicknamed01"]
    assert openids(subscribed_since="2023-01-01T00:00:00Z", subscribed_until="2023-12-31T00:00:00Z") == [
        "oTagged0001"]
    follower = Follower.objects.get(openid="oNicknamed01")
    detail = api.get(f"{API}/followers/{follower.pk}/").json()
    assert detail["nickname"] == "Lucky Cat" and detail["account"] == "shop"


@pytest.mark.parametrize("params, name", [
    ({"tag": "x"}, "tag"), ({"subscribed": "1"}, "subscribed"), ({"subscribed_since": "2024-13-01T00:00:00"},
                                                                "subscribed_since"),
    ({"account": "ghost"}, "account"),
    ({"subscribed_since": "2024-02-01T00:00:00Z", "subscribed_until": "2024-01-01T00:00:00Z"}, "subscribed_until"),
])
def test_follower_filters_refuse_unknown_values(api, shop, params, name):
    resp = api.get(f"{API}/followers/", params)
    assert resp.status_code == 400 and name in error_fields(resp), resp.content


def test_only_drafts_change_and_running_campaigns_are_not_deleted(api, fans, synced,
                                                                  django_capture_on_commit_callbacks):
    campaign = post(api, f"{API}/campaigns/", campaign_body(fans)).json()
    url = f"{API}/campaigns/{campaign['id']}/"
    resp = api.patch(url, '{"name": "June news", "openids": ["oOnlyOne01"]}', content_type="application/json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["name"] == "June news" and resp.json()["openids"] == ["oOnlyOne01"]
    resp = api.patch(url, '{"data": {"first": "x"}}', content_type="application/json")
    assert resp.status_code == 400 and "missing template keyword(s)" in str(error_fields(resp)["data"])
    resp = api.patch(url, '{"account": "nope"}', content_type="application/json")
    assert resp.status_code == 400 and "account" in error_fields(resp)
    assert api.post(f"{url}start/").status_code == 200  # its delivery waits for the commit
    resp = api.patch(url, '{"name": "Too late"}', content_type="application/json")
    assert resp.status_code == 409 and "only a draft can be changed" in message(resp)
    resp = api.delete(url)
    assert resp.status_code == 409 and "cancel it" in message(resp)
    assert api.post(f"{url}cancel/").status_code == 200
    assert api.delete(url).status_code == 204
    assert not Campaign.objects.exists()
