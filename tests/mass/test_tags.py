"""Tags, remarks and the blacklist against the sandbox: WeChat's limits and error codes, batches of
50 (20 for the blacklist), and the mirror (Tag rows, Follower.tags / remark / blacklisted)."""
import pytest
from django.core.exceptions import ValidationError

from tests.mass.conftest import APP_ID
from wechat_app.client import WeChatAPIError
from wechat_app.models import Follower, Tag
from wechat_app.services import audience
from wechat_app.services.tokens import get_client

pytestmark = pytest.mark.django_db


def calls(sandbox, path):
    return sandbox.state.list_calls(path)


def test_create_rename_delete_and_sync(sandbox, account):
    tag = audience.create_tag(account, "VIP")
    assert sandbox.state.tags[APP_ID] == {tag.tag_id: "VIP"}
    audience.rename_tag(tag, "Gold")
    assert sandbox.state.tags[APP_ID][tag.tag_id] == "Gold"
    assert Tag.objects.get(pk=tag.pk).name == "Gold"
    sandbox.state.add_tag(APP_ID, "Made on WeChat", 555)
    assert audience.sync_tags(account) == {"synced": 2, "removed": 0}
    assert set(Tag.objects.filter(account=account).values_list("name", flat=True)) == {"Gold", "Made on WeChat"}
    audience.delete_tag(tag)
    assert tag.tag_id not in sandbox.state.tags[APP_ID]
    assert not Tag.objects.filter(tag_id=tag.tag_id).exists()


def test_tag_names_are_checked_here_and_by_wechat(sandbox, account):
    audience.create_tag(account, "VIP")
    with pytest.raises(ValidationError, match="already"):
        audience.create_tag(account, "VIP")
    with pytest.raises(ValidationError, match="at most 30"):
        audience.create_tag(account, "x" * 31)
    # WeChat's own answers (the mirror being out of date): 45157, 45158, 45056, 45058.
    client = get_client(account)
    for call, code in ((lambda: client.tag.create("VIP"), 45157), (lambda: client.tag.create("y" * 31), 45158),
                       (lambda: client.tag.update(2, "x"), 45159)):
        with pytest.raises(WeChatAPIError) as err:
            call()
        assert err.value.errcode == code
    sandbox.state.add_tag(APP_ID, "星标组", 2)
    with pytest.raises(WeChatAPIError) as err:
        client.tag.delete(2)
    assert err.value.errcode == 45058
    for i in range(99):
        sandbox.state.add_tag(APP_ID, f"t{i}")
    with pytest.raises(WeChatAPIError) as err:
        client.tag.create("one too many")
    assert err.value.errcode == 45056


def test_system_tags_are_refused_before_calling_wechat(sandbox, account):
    tag = Tag.objects.create(account=account, tag_id=2, name="星标组")
    with pytest.raises(ValidationError):
        audience.rename_tag(tag, "x")
    with pytest.raises(ValidationError):
        audience.delete_tag(tag)
    assert not calls(sandbox, "/cgi-bin/tags/update") and not calls(sandbox, "/cgi-bin/tags/delete")


def test_tagging_goes_in_batches_of_50_and_is_mirrored(sandbox, account):
    openids = sandbox.state.add_followers(APP_ID, count=120)
    Follower.objects.bulk_create([Follower(account=account, openid=o) for o in openids])
    tag = audience.create_tag(account, "Batch")
    result = audience.tag_followers(tag, openids)
    assert (result.done, result.batches, result.failed) == (120, 3, [])
    bodies = [c["body"]["openid_list"] for c in calls(sandbox, "/cgi-bin/tags/members/batchtagging")]
    assert [len(b) for b in bodies] == [50, 50, 20]
    assert all(tag.tag_id in sandbox.state.followers[APP_ID][o].tagid_list for o in openids)
    assert audience.followers_with_tag(Follower.objects.filter(account=account), tag.tag_id).count() == 120
    assert Tag.objects.get(pk=tag.pk).count == 120
    result = audience.untag_followers(tag, openids[:60])
    assert (result.done, result.batches) == (60, 2)
    assert audience.followers_with_tag(Follower.objects.filter(account=account), tag.tag_id).count() == 60
    assert get_client(account).tag.get_user_tags(openids[0]) == []
    assert get_client(account).tag.get_user_tags(openids[-1]) == [tag.tag_id]


def test_a_refused_batch_is_reported_and_the_others_go(sandbox, account, followers):
    tag = audience.create_tag(account, "Full")
    full = followers[0]
    sandbox.state.followers[APP_ID][full].tagid_list = list(range(1000, 1020))  # 20 tags already
    result = audience.tag_followers(tag, [full])
    assert result.done == 0 and result.failed[0]["errcode"] == 45059
    assert "20 tags" in result.summary()
    with pytest.raises(WeChatAPIError) as err:
        get_client(account).tag.tag_users(tag.tag_id, ["onotafollower1"])
    assert err.value.errcode == 40003
    with pytest.raises(WeChatAPIError) as err:  # past the client's own check: WeChat's 40032
        get_client(account).tag._post("/cgi-bin/tags/members/batchtagging", {"tagid": tag.tag_id,
                                                                         "openid_list": followers * 11})
    assert err.value.errcode == 40032


def test_a_tag_of_more_than_the_limit_is_emptied_in_batches_then_deleted(sandbox, account):
    openids = sandbox.state.add_followers(APP_ID, count=60)
    tag = audience.create_tag(account, "Crowded")
    audience.tag_followers(tag, openids)
    sandbox.state.mass.config["tag_delete_limit"] = 50  # WeChat: 100,000
    assert audience.delete_tag(tag) == 60
    assert [c["errcode"] for c in calls(sandbox, "/cgi-bin/tags/delete")] == [45057, 0]
    assert len(calls(sandbox, "/cgi-bin/tags/members/batchuntagging")) == 2


def test_remarks(sandbox, account, followers):
    follower = Follower.objects.get(account=account, openid=followers[0])
    audience.set_remark(follower, "Met at the fair")
    assert sandbox.state.followers[APP_ID][followers[0]].remark == "Met at the fair"
    assert Follower.objects.get(pk=follower.pk).remark == "Met at the fair"
    with pytest.raises(ValidationError, match="at most 30"):
        audience.set_remark(follower, "x" * 31)
    assert len(calls(sandbox, "/cgi-bin/user/info/updateremark")) == 1


def test_blacklist_in_batches_of_20_and_sync(sandbox, account):
    openids = sandbox.state.add_followers(APP_ID, count=25)
    Follower.objects.bulk_create([Follower(account=account, openid=o) for o in openids])
    result = audience.set_blacklisted(account, openids)
    assert (result.done, result.batches) == (25, 2)
    assert Follower.objects.filter(account=account, blacklisted=True).count() == 25
    assert sorted(get_client(account).tag.iter_blacklist()) == sorted(openids)
    audience.set_blacklisted(account, openids[:5], False)
    sandbox.state.followers[APP_ID][openids[5]].blacklisted = False  # changed on WeChat's side
    assert audience.sync_blacklist(account) == 19
    assert Follower.objects.filter(account=account, blacklisted=True).count() == 19
