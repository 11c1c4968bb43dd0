"""Create, change and delete departments, members and tags through the service: WeCom first, then
the mirror; WeCom's refusals as errors for people; the command line."""
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from wechat_app.models import WeComDepartment, WeComMember, WeComTag
from wechat_app.services import wecom_contacts as service

from .conftest import CORP_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(book, wecom_account):
    service.sync_contacts(wecom_account)
    return wecom_account


def test_departments(book, account):
    sales = service.create_department(account, "Sales", 1, order=7)
    assert book.departments[sales.department_id]["name"] == "Sales"
    north = service.create_department(account, "North", sales.department_id)
    with pytest.raises(ValidationError, match="named 'Sales' already"):
        service.create_department(account, "Sales", 1)
    with pytest.raises(ValidationError, match="cannot contain"):
        service.create_department(account, "A/B*", 1)
    with pytest.raises(ValidationError, match="No department 999"):
        service.create_department(account, "Lost", 999)
    with pytest.raises(ValidationError, match="below itself"):
        service.update_department(sales, parent_id=north.department_id)
    service.update_department(north, name="North EU", parent_id=1)
    assert book.departments[north.department_id] | {} == {**book.departments[north.department_id],
                                                          "name": "North EU", "parentid": 1}
    with pytest.raises(ValidationError, match="root department"):
        service.delete_department(WeComDepartment.objects.get(account=account, department_id=1))
    service.delete_department(north)
    assert north.department_id not in book.departments
    assert not WeComDepartment.objects.filter(pk=north.pk).exists()


def test_wecom_refusal_is_explained(book, account):
    sales = service.create_department(account, "Sales", 1)
    with book.lock:
        book.create_user({"userid": "eve", "name": "Eve", "department": [sales.department_id], "email": "e@x.example"})
    with pytest.raises(ValidationError, match="still has members.*60005"):
        service.delete_department(sales)  # the mirror did not know eve: WeCom said no


def test_members(book, account):
    alice = service.create_member(account, {"userid": "alice", "name": "Alice", "departments": [1],
                                            "mobile": "13800000001", "position": "lead"})
    assert (alice.name, alice.departments, alice.position) == ("Alice", [1], "lead")
    assert book.users["alice"]["mobile"] == "13800000001"
    for data, message in [
        ({"userid": "alice", "name": "A", "departments": [1], "mobile": "13800000002"}, "already"),
        ({"userid": "bad id", "name": "B", "departments": [1], "mobile": "13800000002"}, "letters, digits"),
        ({"userid": "bob", "name": "Bob", "departments": [1]}, "mobile number or an email"),
        ({"userid": "bob", "name": "Bob", "departments": [42], "mobile": "13800000002"}, "No department 42"),
        ({"userid": "bob", "name": "", "departments": [1], "mobile": "13800000002"}, "required"),
        ({"userid": "bob", "name": "Bob", "departments": [1], "email": "nope"}, "email"),
        ({"userid": "bob", "name": "Bob", "departments": [1], "mobile": "13800000001"}, "60104"),
    ]:
        with pytest.raises(ValidationError, match=message):
            service.create_member(account, data)
    service.update_member(alice, {"name": "Alice W", "position": "director"})
    alice.refresh_from_db()
    assert (alice.name, alice.position) == ("Alice W", "director") and book.users["alice"]["name"] == "Alice W"
    service.delete_member(alice)
    assert "alice" not in book.users and not WeComMember.objects.filter(pk=alice.pk).exists()


def test_tags(book, account):
    tag = service.create_tag(account, "Managers")
    with pytest.raises(ValidationError, match="already"):
        service.create_tag(account, "Managers")
    result = service.change_tag_members(tag, ["zhangsan", "ghost"], [1])
    assert result == {"changed_users": 1, "changed_departments": 1, "invalid_users": ["ghost"], "invalid_parties": []}
    assert list(tag.memberships.values_list("userid", flat=True)) == ["zhangsan"] and tag.departments == [1]
    assert book.tags[tag.tag_id]["userlist"] == ["zhangsan"]
    result = service.change_tag_members(tag, ["ghost"])
    assert result["invalid_users"] == ["ghost"] and result["changed_users"] == 0
    service.change_tag_members(tag, ["zhangsan"], add=False)
    assert not tag.memberships.exists()
    service.rename_tag(tag, "Leads")
    assert book.tags[tag.tag_id]["tagname"] == "Leads"
    service.delete_tag(tag)
    assert tag.tag_id not in book.tags and not WeComTag.objects.exists()


def test_unreachable_wecom_is_not_a_refusal(sandbox, account):
    from wechat_app.client import WeChatTransportError

    sandbox.state.add_fault("/cgi-bin/tag/create", "http", status=503, count=1)
    with pytest.raises(WeChatTransportError):
        service.create_tag(account, "Managers")
    assert not WeComTag.objects.exists()


def test_command(book, account, capsys):
    call_command("wechat_wecom_contacts", "department-create", "--account", "hr", "Sales")
    sales = WeComDepartment.objects.get(account=account, name="Sales").department_id
    call_command("wechat_wecom_contacts", "member-create", "--account", "hr", "alice", "Alice",
                 "--departments", str(sales), "--mobile", "13800000001")
    call_command("wechat_wecom_contacts", "tag-create", "--account", "hr", "Managers")
    call_command("wechat_wecom_contacts", "tag-add", "--account", "hr", "Managers", "alice", "ghost")
    call_command("wechat_wecom_contacts", "tree", "--account", "hr")
    out = capsys.readouterr().out
    assert "1 member(s), 0 department(s) tagged" in out and "ghost" in out
    assert f"  Sales ({sales}): 1 member(s)" in out
    with pytest.raises(CommandError, match="department still has members"):
        call_command("wechat_wecom_contacts", "department-delete", "--account", "hr", str(sales))
    call_command("wechat_wecom_contacts", "member-delete", "--account", "hr", "alice")
    call_command("wechat_wecom_contacts", "sync", "--account", "hr")
    assert "alice" not in book.users and CORP_ID


def test_command_refuses_an_official_account(db):
    from wechat_app.models import Account

    Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="s", token="t")
    with pytest.raises(CommandError, match="not a WeCom app"):
        call_command("wechat_wecom_contacts", "sync", "--account", "shop")
