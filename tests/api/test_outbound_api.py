"""The outbound REST API against the sandbox (real HTTP): sends of every kind, template checks,
idempotency, filters, resend, permissions."""
import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection

from tests.api.outbound_fixtures import *  # noqa: F403  (fixtures)
from tests.api.outbound_fixtures import _eager_celery  # noqa: F401  (autouse fixture; "*" skips it)
from tests.api.outbound_fixtures import API, APP_ID, post
from tests.api_errors import code, error_fields, message
from wechat_app.api.outbound import CUSTOM_EXAMPLES
from wechat_app.models import Account, AccountMembership, OutboundMessage, Template
from wechat_app.services import outbound

pytestmark = pytest.mark.django_db

MESSAGES = f"{API}/outbound-messages"


@pytest.fixture
def synced(shop):
    outbound.sync_templates(shop)
    return Template.objects.get(account=shop, template_id="tpl-shipped")


def template_body(to_user, **changes):
    body = {"account": "shop", "to_user": to_user, "template_id": "tpl-shipped",
            "data": {"first": "Shipped", "order": {"value": "1001", "color": "#173177"}, "remark": "Thanks"}}
    body.update(changes)
    return body


@pytest.mark.parametrize("kind", sorted(CUSTOM_EXAMPLES))
def test_every_customer_service_kind_reaches_the_sandbox(api, sandbox, fans, kind,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], "kind": kind,
                                                 "content": CUSTOM_EXAMPLES[kind]})
    assert resp.status_code == 202, resp.content
    assert resp.json()["status"] == "queued" and resp.json()["kind"] == kind
    message = api.get(f"{MESSAGES}/{resp.json()['id']}/").json()
    assert message["status"] == "sent", message
    (received,) = sandbox.state.list_messages(APP_ID)
    assert received["msgtype"] == kind and received["touser"] == fans[0]
    assert received["payload"][kind] == CUSTOM_EXAMPLES[kind]


@pytest.mark.parametrize("body, field, words", [
    ({"kind": "image", "content": {}}, "content", "media_id"),
    ({"kind": "text", "content": {"content": "hi", "extra": 1}}, "content", "extra"),
    ({"kind": "fax", "content": {"content": "hi"}}, "kind", "fax"),
    ({"kind": "text", "content": {"content": "字" * 700}}, "content", "2048 bytes"),
    ({"kind": "news", "content": {"articles": [{"title": "a", "url": "https://e.com/a"}] * 2}}, "content", "one"),
    ({"kind": "text", "content": {"content": "hi"}, "to_user": "not an openid!"}, "to_user", "openid"),
    ({"kind": "text", "content": {"content": "hi"}, "account": "nope"}, "account", "nope"),
])
def test_invalid_customer_service_messages_name_the_field(api, fans, body, field, words):
    resp = post(api, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], **body})
    assert resp.status_code == 400, resp.content
    fields = error_fields(resp)
    assert field in fields and words in str(fields[field]), fields
    assert not OutboundMessage.objects.exists()


def test_template_message_is_sent_with_its_data(api, sandbox, fans, synced, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, f"{MESSAGES}/template/", template_body(fans[1], url="https://example.com/o/1001"))
    assert resp.status_code == 202, resp.content
    assert resp.json()["template_id"] == "tpl-shipped"
    (received,) = sandbox.state.list_messages(APP_ID, kind="template")
    assert received["payload"]["data"]["order"] == {"value": "1001", "color": "#173177"}
    assert received["payload"]["url"] == "https://example.com/o/1001"
    message = OutboundMessage.objects.get()
    assert message.status == "sent" and message.msgid == received["msgid"] and message.template == synced


@pytest.mark.parametrize("changes, field, words", [
    ({"data": {"first": "a", "order": "b", "remark": "c", "extra": "d"}}, "data", "unknown template keyword(s): extra"),
    ({"data": {"first": "a", "order": "b"}}, "data", "missing template keyword(s): remark"),
    ({"data": {"first": "a", "order": {"value": "b", "color": "red"}, "remark": "c"}}, "data", "color"),
    ({"template_id": "tpl-unknown"}, "template_id", "not among the account's synced templates"),
    ({"url": "ftp://example.com/x"}, "url", "http(s) URL"),
    ({"miniprogram": {"pagepath": "index"}}, "miniprogram", "appid"),
])
def test_invalid_template_messages_name_the_field(api, fans, synced, changes, field, words):
    resp = post(api, f"{MESSAGES}/template/", template_body(fans[0], **changes))
    assert resp.status_code == 400, resp.content
    fields = error_fields(resp)
    assert field in fields and words in str(fields[field]), fields
    assert not OutboundMessage.objects.exists()


def test_a_template_gone_from_wechat_is_refused(api, fans, synced):
    Template.objects.filter(pk=synced.pk).update(active=False)
    resp = post(api, f"{MESSAGES}/template/", template_body(fans[0]))
    assert resp.status_code == 400 and "no longer on WeChat" in error_fields(resp)["template_id"][0]


def test_same_idempotency_key_twice_sends_once_and_answers_the_first_answer(
        api, sandbox, fans, synced, django_capture_on_commit_callbacks):
    body = template_body(fans[0])
    with django_capture_on_commit_callbacks(execute=True):
        first = post(api, f"{MESSAGES}/template/", body, **{"Idempotency-Key": "order-1001"})
    with django_capture_on_commit_callbacks(execute=True):
        second = post(api, f"{MESSAGES}/template/", body, **{"Idempotency-Key": "order-1001"})
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json() and first.json()["idempotency_key"] == "order-1001"
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert OutboundMessage.objects.count() == 1
    assert len(sandbox.state.list_messages(APP_ID)) == 1
    # The message itself moved on: its own page says so.
    assert api.get(f"{MESSAGES}/{first.json()['id']}/").json()["status"] == "sent"
    # The same key with another body is refused, and sends nothing.
    other = post(api, f"{MESSAGES}/template/", template_body(fans[1]), **{"Idempotency-Key": "order-1001"})
    assert other.status_code == 422 and code(other) == "idempotency_key_reused" and "another request" in message(other)
    other = post(api, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], "kind": "text",
                                              "content": {"content": "hi"}}, **{"Idempotency-Key": "order-1001"})
    assert other.status_code == 422
    assert OutboundMessage.objects.count() == 1 and len(sandbox.state.list_messages(APP_ID)) == 1


def test_idempotency_keys_are_per_account(api, sandbox, fans, django_capture_on_commit_callbacks):
    sandbox.state.add_app("wxotherapp000001", "other-secret-000001")
    (other_fan,) = sandbox.state.add_followers("wxotherapp000001", count=1)
    Account.objects.create(name="other", app_id="wxotherapp000001", app_secret="other-secret-000001",
                           token="tok999", api_base_url=sandbox.url)
    with django_capture_on_commit_callbacks(execute=True):
        a = post(api, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], "kind": "text",
                                              "content": {"content": "hi"}}, **{"Idempotency-Key": "k1"})
        b = post(api, f"{MESSAGES}/custom/", {"account": "other", "to_user": other_fan, "kind": "text",
                                              "content": {"content": "hi"}}, **{"Idempotency-Key": "k1"})
    assert a.status_code == b.status_code == 202 and a.json()["id"] != b.json()["id"]
    assert len(sandbox.state.list_messages()) == 2


@pytest.mark.parametrize("key", ["", "a" * 61, "has space", "ключ"])
def test_a_bad_idempotency_key_is_refused(api, fans, key):
    resp = post(api, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], "kind": "text",
                                             "content": {"content": "hi"}}, **{"Idempotency-Key": key})
    assert resp.status_code == 400 and "Idempotency-Key" in error_fields(resp)
    assert not OutboundMessage.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_send_once(sandbox, shop, fans):
    from django.test import Client

    outbound.sync_templates(shop)
    user = get_user_model().objects.create_superuser("root2", "root2@example.com", None)
    barrier, answers = threading.Barrier(2), []

    def send():
        try:
            client = Client()
            client.force_login(user)
            barrier.wait()
            answers.append(post(client, f"{MESSAGES}/template/", template_body(fans[0]),
                                **{"Idempotency-Key": "race-1"}))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) in ([201, 201], [202, 202])
    assert answers[0].json() == answers[1].json()
    assert sum(1 for a in answers if a.get("Idempotent-Replayed") == "true") == 1
    assert OutboundMessage.objects.count() == 1
    assert len(sandbox.state.list_messages(APP_ID)) == 1


def test_list_filters(api, fans, synced, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(api, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], "kind": "text",
                                          "content": {"content": "hi"}})
        post(api, f"{MESSAGES}/template/", template_body(fans[1]))
    OutboundMessage.objects.create(account=synced.account, kind="text", to_user=fans[2], payload={"content": "x"},
                                   status="failed", errcode=43004)

    def ids(**params):
        resp = api.get(f"{MESSAGES}/", params)
        assert resp.status_code == 200, resp.content
        return [row["to_user"] for row in resp.json()["results"]]

    assert sorted(ids()) == sorted(fans)
    assert ids(kind="template") == [fans[1]]
    assert ids(status="failed") == [fans[2]]
    assert ids(to_user=fans[0]) == [fans[0]]
    assert ids(template_id="tpl-shipped") == [fans[1]]
    assert len(ids(account="shop", since="2000-01-01T00:00:00Z")) == 3
    assert ids(until="2000-01-01T00:00:00Z") == []


@pytest.mark.parametrize("params, name", [
    ({"account": "nope"}, "account"), ({"status": "lost"}, "status"), ({"kind": "fax"}, "kind"),
    ({"campaign": "999"}, "campaign"), ({"campaign": "x"}, "campaign"), ({"since": "yesterday"}, "since"),
    ({"to_user": "a\x00b"}, "to_user"), ({"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"}, "until"),
])
def test_unknown_filter_values_are_a_400_naming_the_parameter(api, shop, params, name):
    resp = api.get(f"{MESSAGES}/", params)
    assert resp.status_code == 400 and name in error_fields(resp), resp.content


def test_resend_a_failed_message_and_not_a_sent_one(api, sandbox, fans, django_capture_on_commit_callbacks):
    sandbox.state.followers[APP_ID][fans[0]].subscribe = 0  # WeChat refuses: 43004
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], "kind": "text",
                                                 "content": {"content": "hi"}})
    url = f"{MESSAGES}/{resp.json()['id']}/"
    failed = api.get(url).json()
    assert failed["status"] == "failed" and failed["errcode"] == 43004
    sandbox.state.followers[APP_ID][fans[0]].subscribe = 1
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(f"{url}resend/")
    assert again.status_code == 202 and again.json()["status"] == "queued" and again.json()["attempts"] == 0
    assert api.get(url).json()["status"] == "sent"
    assert len(sandbox.state.list_messages(APP_ID)) == 1
    conflict = api.post(f"{url}resend/")
    assert conflict.status_code == 409 and code(conflict) == "conflict" and "this one is sent" in message(conflict)


def _staff(username, account, perms):
    user = get_user_model().objects.create_user(username, password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app", codename__in=perms))
    AccountMembership.objects.create(user=user, account=account)
    return user


def test_other_accounts_messages_are_not_found_and_viewers_cannot_send(client, sandbox, shop, fans):
    other = Account.objects.create(name="other", app_id="wxotherapp000001", app_secret="other-secret-000001",
                                   token="tok999")
    message = OutboundMessage.objects.create(account=shop, kind="text", to_user=fans[0], payload={"content": "x"},
                                             status="failed")
    client.force_login(_staff("outsider", other, ["view_outboundmessage", "add_outboundmessage",
                                                  "change_outboundmessage"]))
    assert client.get(f"{MESSAGES}/{message.pk}/").status_code == 404
    assert client.post(f"{MESSAGES}/{message.pk}/resend/").status_code == 404
    assert client.get(f"{MESSAGES}/").json()["results"] == []
    resp = post(client, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], "kind": "text",
                                                "content": {"content": "hi"}})
    assert resp.status_code == 400 and "account" in error_fields(resp)
    client.force_login(_staff("viewer", shop, ["view_outboundmessage"]))
    assert client.get(f"{MESSAGES}/{message.pk}/").status_code == 200
    resp = post(client, f"{MESSAGES}/custom/", {"account": "shop", "to_user": fans[0], "kind": "text",
                                                "content": {"content": "hi"}})
    assert resp.status_code == 403
    assert client.post(f"{MESSAGES}/{message.pk}/resend/").status_code == 403
    assert OutboundMessage.objects.count() == 1


def test_responses_never_show_secrets(api, fans, synced):
    listing = api.get(f"{MESSAGES}/").content.decode() + api.get(f"{API}/templates/").content.decode()
    for secret in ("outbound-api-secret-01", "tok123"):
        assert secret not in listing
