"""wechat_mass and wechat_tags against the sandbox."""
import pytest
from django.core.management import CommandError, call_command

from tests.mass.conftest import APP_ID
from wechat_app.models import Account, MassMessage

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_tags_commands(sandbox, account, followers):
    assert "Created tag 'VIP'" in run("wechat_tags", "create", "--account", account.name, "VIP")
    assert "Tagged 2 follower(s) in 1 call(s)" in run("wechat_tags", "tag", "--account", account.name, "VIP",
                                                      *followers[:2])
    sandbox.state.add_tag(APP_ID, "Other", 500)
    assert "2 tag(s) synced" in run("wechat_tags", "sync", "--account", account.name)
    listing = run("wechat_tags", "list", "--account", account.name)
    assert "VIP  (2 followers)" in listing and "Other  (0 followers)" in listing
    assert "Renamed" in run("wechat_tags", "rename", "--account", account.name, "VIP", "Gold")
    assert "Untagged 1" in run("wechat_tags", "untag", "--account", account.name, "Gold", followers[0])
    with pytest.raises(CommandError, match="already"):
        run("wechat_tags", "create", "--account", account.name, "Gold")
    with pytest.raises(CommandError, match="No tag 'Nope'"):
        run("wechat_tags", "delete", "--account", account.name, "Nope")
    assert "Deleted tag 'Gold'" in run("wechat_tags", "delete", "--account", account.name, "Gold")


@pytest.mark.django_db(transaction=True)  # the send runs at commit, as from a shell
def test_mass_commands(sandbox, account, followers):
    Account.objects.filter(pk=account.pk).update(kind="subscription")
    run("wechat_tags", "create", "--account", account.name, "VIP")
    run("wechat_tags", "tag", "--account", account.name, "VIP", *followers[:3])
    out = run("wechat_mass", "send", "--account", account.name, "--name", "Draft", "--openid", followers[0],
              "--openid", followers[1], "--text", "Hello", "--draft")
    draft = MassMessage.objects.get(name="Draft")
    assert f"Saved draft #{draft.pk}" in out and not sandbox.state.mass.sends
    assert "Preview of" in run("wechat_mass", "preview", str(draft.pk), "--openid", followers[0])
    out = run("wechat_mass", "send", "--account", account.name, "--name", "VIP news", "--tag", "VIP",
              "--kind", "mpnews", "--media-id", "news1")
    assert "submitted, msg_id" in out  # no broker: sent here
    (send,) = sandbox.state.mass.sends.values()
    assert sorted(send["recipients"]) == sorted(followers[:3])
    assert "1 of 1 mass send(s) used this day; 0 left" in run("wechat_mass", "quota", "--account", account.name)
    with pytest.raises(CommandError, match="1 of 1 mass send"):
        run("wechat_mass", "send", "--account", account.name, "--name", "More", "--all", "--text", "x")
    with pytest.raises(CommandError, match="needs media_id"):
        run("wechat_mass", "send", "--account", account.name, "--name", "Bad", "--all", "--kind", "voice")
    sent = MassMessage.objects.get(name="VIP news")
    assert "WeChat: SEND_SUCCESS" in run("wechat_mass", "status", str(sent.pk), "--refresh")
    assert "'VIP news': done" in run("wechat_mass", "status", "--account", account.name)
