"""The admin of WeCom contacts: the department tree with member counts, members by department and
search, creating and changing through WeCom, tags with their members, the sync button."""
import pytest

from wechat_app.models import WeComDepartment, WeComMember, WeComTag
from wechat_app.services import wecom_contacts as service

pytestmark = pytest.mark.django_db
ADMIN = "/admin/wechat_app/"


@pytest.fixture
def synced(book, wecom_account):
    with book.lock:
        sales = book.create_department({"name": "Sales", "parentid": 1})["id"]
        book.create_department({"name": "North", "parentid": sales})
        book.create_user({"userid": "alice", "name": "Alice", "department": [sales], "mobile": "13800000001"})
    service.sync_contacts(wecom_account)
    return wecom_account


def test_department_tree(admin_client, synced):
    page = admin_client.get(ADMIN + "wecomdepartment/tree/")
    assert page.status_code == 200
    text = page.content.decode()
    assert text.index(">Corp<") < text.index(">Sales<") < text.index(">North<")  # the root, then below
    assert 'data-depth="2"' in text and "department=" in text
    listing = admin_client.get(ADMIN + "wecomdepartment/")
    assert listing.status_code == 200 and b"wx-department-tree-link" in listing.content
    assert admin_client.get(ADMIN + "wecomdepartment/tree/?account=abc").status_code == 200


def test_members_by_department_and_search(admin_client, synced):
    sales = WeComDepartment.objects.get(account=synced, name="Sales").department_id
    page = admin_client.get(ADMIN + f"wecommember/?department={sales}")
    assert page.status_code == 200 and b"alice" in page.content and b"zhangsan" not in page.content
    page = admin_client.get(ADMIN + "wecommember/?q=zhang")
    assert b"zhangsan" in page.content and b"alice" not in page.content


def test_create_member_and_department_through_wecom(admin_client, book, synced):
    response = admin_client.post(ADMIN + "wecomdepartment/add/", {"account": synced.pk, "name": "Sales",
                                                                  "parent_id": 1, "order": 0})
    assert response.status_code == 200 and b"already" in response.content  # the form says why
    response = admin_client.post(ADMIN + "wecomdepartment/add/", {"account": synced.pk, "name": "Ops",
                                                                  "parent_id": 1, "order": 0})
    assert response.status_code == 302
    ops = WeComDepartment.objects.get(account=synced, name="Ops")
    assert book.departments[ops.department_id]["name"] == "Ops"
    response = admin_client.post(ADMIN + "wecommember/add/", {
        "account": synced.pk, "userid": "bob", "name": "Bob", "department_ids": f"1, {ops.department_id}",
        "position": "", "mobile": "", "email": "bob@corp.example"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert book.users["bob"]["department"] == [1, ops.department_id]
    response = admin_client.post(ADMIN + "wecommember/add/", {
        "account": synced.pk, "userid": "carol", "name": "Carol", "department_ids": "1", "position": "",
        "mobile": "", "email": ""})
    assert response.status_code == 200 and b"mobile number or an email" in response.content
    bob = WeComMember.objects.get(account=synced, userid="bob")
    response = admin_client.post(ADMIN + f"wecommember/{bob.pk}/change/", {
        "name": "Bob B", "department_ids": "1", "position": "ops", "mobile": "", "email": "bob@corp.example",
        "enable": "on"})
    assert response.status_code == 302 and book.users["bob"]["position"] == "ops"


def test_tag_with_members(admin_client, book, synced):
    response = admin_client.post(ADMIN + "wecomtag/add/", {"account": synced.pk, "name": "Managers"})
    assert response.status_code == 302
    tag = WeComTag.objects.get(account=synced)
    response = admin_client.post(ADMIN + f"wecomtag/{tag.pk}/change/", {
        "name": "Managers", "add_userids": "alice zhangsan ghost", "remove_userids": ""}, follow=True)
    assert response.status_code == 200 and b"ghost" in response.content
    assert set(tag.memberships.values_list("userid", flat=True)) == {"alice", "zhangsan"}
    assert book.tags[tag.tag_id]["userlist"] == ["alice", "zhangsan"]


def test_sync_button(admin_client, book, synced):
    with book.lock:
        book.create_user({"userid": "dave", "name": "Dave", "department": [1], "email": "d@corp.example"})
    response = admin_client.post(ADMIN + "wecommember/sync/", {"account": synced.pk}, follow=True)
    assert response.status_code == 200 and b"member(s)" in response.content
    assert WeComMember.objects.filter(account=synced, userid="dave").exists()
