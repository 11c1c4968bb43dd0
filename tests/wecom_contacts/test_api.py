"""The REST API of WeCom contacts against the sandbox: CRUD, tag members, the tree, the sync job,
filters, and per-account access (another team's objects are not found, viewers cannot write)."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from tests.api_errors import error_fields
from wechat_app.models import Account, AccountMembership, WeComMember
from wechat_app.services import wecom_contacts as service

pytestmark = pytest.mark.django_db
API = "/wechat/api/"


def post(client, url, data=None):
    return client.post(API + url, data or {}, content_type="application/json")


def patch(client, url, data):
    return client.patch(API + url, data, content_type="application/json")


def test_crud_and_tag_members(admin_client, book, wecom_account):
    response = post(admin_client, "wecom-departments/", {"account": "hr", "name": "Sales", "order": 3})
    assert response.status_code == 201, response.json()
    sales = response.json()
    assert book.departments[sales["department_id"]]["name"] == "Sales" and sales["parent_id"] == 1
    response = post(admin_client, "wecom-departments/", {"account": "hr", "name": "Sales"})
    assert response.status_code == 400 and "already" in str(error_fields(response)["name"])
    assert patch(admin_client, f"wecom-departments/{sales['id']}/", {"name": "Sales EU"}).status_code == 200
    assert book.departments[sales["department_id"]]["name"] == "Sales EU"

    body = {"account": "hr", "userid": "alice", "name": "Alice", "departments": [sales["department_id"]],
            "mobile": "13800000001"}
    response = post(admin_client, "wecom-members/", body)
    assert response.status_code == 201, response.json()
    alice = response.json()
    assert alice["departments"] == [sales["department_id"]] and book.users["alice"]["name"] == "Alice"
    response = post(admin_client, "wecom-members/", {**body, "userid": "bob", "mobile": ""})
    assert response.status_code == 400 and "mobile" in error_fields(response)
    response = post(admin_client, "wecom-members/", {**body, "userid": "bob", "departments": [999]})
    assert response.status_code == 400 and "999" in str(error_fields(response)["departments"])
    response = post(admin_client, "wecom-members/", {**body, "userid": "bob", "unknown": 1})
    assert response.status_code == 400  # strict: unknown fields refused
    response = patch(admin_client, f"wecom-members/{alice['id']}/", {"position": "lead"})
    assert response.status_code == 200 and book.users["alice"]["position"] == "lead"
    assert patch(admin_client, f"wecom-members/{alice['id']}/", {"userid": "x"}).status_code == 400

    listed = admin_client.get(API + f"wecom-members/?account=hr&department={sales['department_id']}").json()
    assert [m["userid"] for m in listed["results"]] == ["alice"]
    assert admin_client.get(API + "wecom-members/?search=ALI").json()["count"] == 1
    assert admin_client.get(API + "wecom-members/?department=abc").status_code == 400
    tree = admin_client.get(API + "wecom-departments/tree/?account=hr").json()
    # Not synced yet: the root is not mirrored, so Sales (under it) starts the tree.
    assert [(t["department_id"], t["name"], t["depth"], t["members"]) for t in tree] == [
        (sales["department_id"], "Sales EU", 0, 1)]
    assert admin_client.get(API + "wecom-departments/tree/").status_code == 400  # account required

    response = post(admin_client, "wecom-tags/", {"account": "hr", "name": "Managers"})
    assert response.status_code == 201
    tag = response.json()
    response = post(admin_client, f"wecom-tags/{tag['id']}/add-members/", {"userids": ["alice", "ghost"]})
    assert response.status_code == 200 and response.json()["invalid_users"] == ["ghost"]
    assert admin_client.get(API + f"wecom-tags/{tag['id']}/").json()["userids"] == ["alice"]
    assert post(admin_client, f"wecom-tags/{tag['id']}/add-members/", {}).status_code == 400
    response = post(admin_client, f"wecom-tags/{tag['id']}/remove-members/", {"userids": ["alice"]})
    assert response.status_code == 200 and book.tags[tag["tag_id"]]["userlist"] == []
    assert admin_client.delete(API + f"wecom-tags/{tag['id']}/").status_code == 204

    assert admin_client.delete(API + f"wecom-departments/{sales['id']}/").status_code == 400  # alice is in it
    assert admin_client.delete(API + f"wecom-members/{alice['id']}/").status_code == 204
    assert admin_client.delete(API + f"wecom-departments/{sales['id']}/").status_code == 204
    assert sales["department_id"] not in book.departments


def test_sync_job(admin_client, book, wecom_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(admin_client, "wecom-members/sync/", {"account": "hr"})
    assert response.status_code == 202, response.json()
    job = admin_client.get(response.json()["url"]).json()
    assert job["status"] == "done" and job["kind"] == "wecom_contacts" and job["done"] == job["total"] == 3
    assert WeComMember.objects.filter(account=wecom_account).count() == 3


def test_official_accounts_have_no_contacts(admin_client, wecom_account):
    Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="s", token="t")
    response = post(admin_client, "wecom-tags/", {"account": "shop", "name": "x"})
    assert response.status_code == 400 and "not a WeCom app" in str(error_fields(response)["account"])
    response = post(admin_client, "wecom-members/sync/", {"account": "shop"})
    assert response.status_code == 400


@pytest.fixture
def users(wecom_account):
    User = get_user_model()
    other = Account.objects.create(name="ops", app_id="wx00000000000000ab", app_secret="s", token="t")
    perms = Permission.objects.filter(codename__in=["view_wecommember", "view_wecomtag", "view_wecomdepartment"])
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(*perms)
    AccountMembership.objects.create(user=viewer, account=wecom_account)
    stranger = User.objects.create_user("stranger", password="pw", is_staff=True)
    stranger.user_permissions.add(*perms, *Permission.objects.filter(codename__in=[
        "add_wecommember", "change_wecommember", "delete_wecommember", "add_wecomtag"]))
    AccountMembership.objects.create(user=stranger, account=other)
    return viewer, stranger


def test_access(client, book, wecom_account, users):
    service.sync_contacts(wecom_account)
    member = WeComMember.objects.get(account=wecom_account, userid="zhangsan")
    viewer, stranger = users
    client.force_login(viewer)
    assert client.get(API + "wecom-members/").json()["count"] == 3
    assert client.get(API + f"wecom-members/{member.pk}/").status_code == 200
    assert patch(client, f"wecom-members/{member.pk}/", {"position": "x"}).status_code == 403
    assert client.delete(API + f"wecom-members/{member.pk}/").status_code == 403
    assert post(client, "wecom-members/sync/", {"account": "hr"}).status_code == 403
    client.force_login(stranger)
    assert client.get(API + "wecom-members/").json()["count"] == 0
    assert client.get(API + f"wecom-members/{member.pk}/").status_code == 404
    assert patch(client, f"wecom-members/{member.pk}/", {"position": "x"}).status_code == 404
    assert client.delete(API + f"wecom-members/{member.pk}/").status_code == 404
    response = post(client, "wecom-tags/", {"account": "hr", "name": "x"})
    assert response.status_code == 400 and "account" in error_fields(response)
    assert client.get(API + "wecom-members/?account=hr").status_code == 400
    assert "zhangsan" in book.users and WeComMember.objects.filter(pk=member.pk, position="").exists()
