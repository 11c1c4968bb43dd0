"""The full contacts sync: 10,000 members with progress, as a tracked SyncJob, and a re-sync that
follows WeCom's changes."""
import pytest
from django.core.exceptions import ValidationError

from wechat_app.models import SyncJob, WeComDepartment, WeComMember, WeComTag
from wechat_app.sandbox.wecom_contacts import add_generated_members
from wechat_app.services import sync_jobs
from wechat_app.services import wecom_contacts as service

pytestmark = pytest.mark.django_db


def test_sync_of_10000_members_reports_progress(book, wecom_account, monkeypatch, django_capture_on_commit_callbacks):
    with book.lock:
        sales = book.create_department({"name": "Sales", "parentid": 1})["id"]
        north = book.create_department({"name": "North", "parentid": sales})["id"]
        tag = book.create_tag({"tagname": "Managers"})["tagid"]
    add_generated_members(book, 6000, department_id=sales)
    add_generated_members(book, 4000, department_id=north, start=6000)
    with book.lock:
        book.change_tag_members({"tagid": tag, "userlist": ["user00001", "user06001"], "partylist": [north]}, True)
    total_members = len(book.users)  # 10,000 and the 3 of tests/wecom's corp
    assert total_members == 10_003

    seen = []
    original = sync_jobs._update

    def spy(job_id, **fields):
        if "done" in fields and "status" not in fields:
            seen.append((fields["done"], fields["total"]))
        original(job_id, **fields)

    monkeypatch.setattr(sync_jobs, "_update", spy)
    with django_capture_on_commit_callbacks(execute=True):  # the task, eager, runs on commit
        job, created = sync_jobs.request_sync(wecom_account, SyncJob.Kind.WECOM_CONTACTS)
    job.refresh_from_db()
    assert created and job.status == SyncJob.Status.DONE, job.error
    assert (job.done, job.total) == (total_members + 1, total_members + 1)  # members, then the one tag
    assert job.result["members"] == total_members and job.result["departments"] == 3
    # Progress rose in steps, never past the total, and ended at it.
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and len(dones) >= 20 and seen[-1] == (total_members + 1, total_members + 1)
    assert WeComMember.objects.filter(account=wecom_account).count() == total_members
    member = WeComMember.objects.get(account=wecom_account, userid="user06001")
    assert (member.departments, member.mobile, member.main_department) == ([north], "13800006001", north)
    assert len(service.members_in_department(WeComMember.objects.filter(account=wecom_account), north)) == 4000
    managers = WeComTag.objects.get(account=wecom_account, tag_id=tag)
    assert set(managers.memberships.values_list("userid", flat=True)) == {"user00001", "user06001"}
    assert managers.departments == [north]
    tree = service.department_tree(wecom_account)
    assert [(r["department"].department_id, r["depth"], r["members"]) for r in tree] == [
        (1, 0, 3), (sales, 1, 6000), (north, 2, 4000)]


def test_resync_follows_wecom(book, wecom_account):
    with book.lock:
        sales = book.create_department({"name": "Sales", "parentid": 1})["id"]
        tag = book.create_tag({"tagname": "Managers"})["tagid"]
        book.change_tag_members({"tagid": tag, "userlist": ["zhangsan"]}, True)
    service.sync_contacts(wecom_account)
    with book.lock:
        book.delete_user("lisi")
        book.update_department({"id": sales, "name": "Sales EU"})
        book.change_tag_members({"tagid": tag, "userlist": ["zhangsan"]}, False)
        book.change_tag_members({"tagid": tag, "userlist": ["wangwu"]}, True)
    result = service.sync_contacts(wecom_account)
    assert result["removed"]["members"] == 1
    assert not WeComMember.objects.filter(account=wecom_account, userid="lisi").exists()
    assert WeComDepartment.objects.get(account=wecom_account, department_id=sales).name == "Sales EU"
    assert list(WeComTag.objects.get(account=wecom_account).memberships.values_list("userid", flat=True)) == ["wangwu"]
    with book.lock:
        book.delete_tag(tag)
    assert service.sync_contacts(wecom_account)["removed"]["tags"] == 1


def test_sync_of_an_official_account_is_refused(db):
    from wechat_app.models import Account

    account = Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="s", token="t")
    with pytest.raises(ValidationError, match="not a WeCom app"):
        service.sync_contacts(account)


def test_a_failed_sync_says_why(sandbox, book, wecom_account, django_capture_on_commit_callbacks):
    sandbox.state.add_fault("/cgi-bin/user/list", "error", errcode=60011, count=1)
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = sync_jobs.request_sync(wecom_account, SyncJob.Kind.WECOM_CONTACTS)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED and "60011" in job.error
