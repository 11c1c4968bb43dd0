"""change_contact events keep the mirror current, each applied exactly once under WeCom's retries.

The events are made by the sandbox's WeCom console (``console(..., push=False)`` gives the XML WeCom
would push); ``deliver`` hands each to the receiver of ``wecom_contact_changed`` as the callback does.
"""

import pytest
from django.db import connection

from tests.concurrency import run_in_threads
from wechat_app.models import WeComContactEvent, WeComDepartment, WeComMember, WeComTag
from wechat_app.protocol import parse_message
from wechat_app.sandbox.wecom_contacts import console
from wechat_app.services import wecom_contacts as service

from .conftest import CORP_ID

pytestmark = pytest.mark.django_db


def change(sandbox, op, **data):
    return console(sandbox.state, CORP_ID, op, data, push=False)["xml"]


def deliver(account, xml, times=1):
    message = parse_message(xml.encode())
    return [service.apply_event(account, message) for _ in range(times)]


@pytest.fixture
def synced(book, wecom_account):
    service.sync_contacts(wecom_account)
    return wecom_account


def test_member_events(sandbox, synced):
    account = synced
    xml = change(sandbox, "create_user", userid="alice", name="Alice", department=[1], mobile="13800000001",
                 position="lead")
    assert deliver(account, xml, times=3) == [True, False, False]  # WeCom's retries change nothing
    alice = WeComMember.objects.get(account=account, userid="alice")
    assert (alice.name, alice.departments, alice.position, alice.mobile) == ("Alice", [1], "lead", "13800000001")

    deliver(account, change(sandbox, "update_user", userid="alice", position="director"))
    alice.refresh_from_db()
    assert (alice.name, alice.position) == ("Alice", "director")  # only the fields the event carries

    deliver(account, change(sandbox, "delete_user", userid="alice"), times=2)
    assert not WeComMember.objects.filter(account=account, userid="alice").exists()
    assert WeComContactEvent.objects.filter(account=account).count() == 3


def test_a_renamed_member_keeps_its_tags(sandbox, book, synced):
    account = synced
    with book.lock:
        tag = book.create_tag({"tagname": "Managers"})["tagid"]
    deliver(account, change(sandbox, "update_tag", tagid=tag, add_users=["lisi"]))
    deliver(account, change(sandbox, "update_user", userid="lisi", new_userid="li.si", position="pm"), times=2)
    member = WeComMember.objects.get(account=account, userid="li.si")
    assert member.position == "pm" and not WeComMember.objects.filter(account=account, userid="lisi").exists()
    assert list(WeComTag.objects.get(account=account).memberships.values_list("userid", flat=True)) == ["li.si"]
    assert book.tags[tag]["userlist"] == ["li.si"] and "li.si" in book.users


def test_a_late_retry_does_not_undo_a_newer_change(sandbox, synced):
    """A retry of an old update that arrives after a newer one is recognized and skipped."""
    account = synced
    first = change(sandbox, "update_user", userid="zhangsan", position="engineer")
    second = change(sandbox, "update_user", userid="zhangsan", position="manager")
    deliver(account, first)
    deliver(account, second)
    deliver(account, first)  # WeCom retried the first: it got no answer in time
    assert WeComMember.objects.get(account=account, userid="zhangsan").position == "manager"


def test_department_and_tag_events(sandbox, book, synced):
    account = synced
    xml = change(sandbox, "create_party", name="Sales", parentid=1, order=5)
    deliver(account, xml, times=2)
    sales = WeComDepartment.objects.get(account=account, name="Sales")
    assert (sales.parent_id, sales.order) == (1, 5)
    deliver(account, change(sandbox, "update_party", id=sales.department_id, name="Sales EU"))
    sales.refresh_from_db()
    assert sales.name == "Sales EU"

    with book.lock:
        tag = book.create_tag({"tagname": "Managers"})["tagid"]
    deliver(account, change(sandbox, "update_tag", tagid=tag, add_users=["zhangsan", "lisi"],
                            add_parties=[sales.department_id]), times=2)
    managers = WeComTag.objects.get(account=account, tag_id=tag)
    assert set(managers.memberships.values_list("userid", flat=True)) == {"zhangsan", "lisi"}
    assert managers.departments == [sales.department_id]
    deliver(account, change(sandbox, "update_tag", tagid=tag, del_users=["lisi"]))
    assert list(managers.memberships.values_list("userid", flat=True)) == ["zhangsan"]

    deliver(account, change(sandbox, "delete_party", id=sales.department_id), times=2)
    assert not WeComDepartment.objects.filter(account=account, department_id=sales.department_id).exists()


def test_other_events_are_not_contacts_changes(synced):
    xml = ("<xml><ToUserName>ww</ToUserName><FromUserName>zhangsan</FromUserName><CreateTime>1</CreateTime>"
           "<MsgType>event</MsgType><Event>enter_agent</Event></xml>")
    assert deliver(synced, xml) == [False]
    assert not WeComContactEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_apply_once(sandbox, book, wecom_account):
    """The same event delivered by several workers at once: one applies it."""
    if connection.vendor == "sqlite":
        pytest.skip("concurrent writers need PostgreSQL (DATABASE_URL)")
    service.sync_contacts(wecom_account)
    xml = change(sandbox, "update_user", userid="zhangsan", position="boss")
    results = [applied for applied, in run_in_threads(lambda: deliver(wecom_account, xml), 4)]
    assert sorted(results) == [False, False, False, True]
    assert WeComContactEvent.objects.filter(account=wecom_account).count() == 1
