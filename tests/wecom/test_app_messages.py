"""App messages of a WeCom app through the outbound queue, against the sandbox's WeCom side."""
import pytest
from django.core.exceptions import ValidationError

from wechat_app import channels
from wechat_app.models import Account, OutboundMessage
from wechat_app.protocol import NewsReply, TextReply
from wechat_app.protocol.replies import Article
from wechat_app.services import outbound, wecom
from wechat_app.channels import OutgoingFile

from .conftest import CORP_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(sandbox, corp_app):
    sandbox.state.wecom.add_department(CORP_ID, 2, "R&D")
    sandbox.state.wecom.add_users(CORP_ID, ["dev1", "dev2"], department=2)
    sandbox.state.wecom.add_tag(CORP_ID, 7, "oncall", ["lisi"])


def sent(sandbox):
    return sandbox.state.wecom.list_messages()


def test_text_to_members_departments_and_tags_reports_the_unreached(sandbox, wecom_account, directory,
                                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = wecom.queue_app_message(wecom_account, "text", {"content": "Meeting at 3"},
                                          touser=["zhangsan", "ghost"], toparty=[2, 99], totag="7|8")
    message.refresh_from_db()
    assert message.status == "sent" and message.kind == "wecom_app" and message.wecom_msgid
    assert (message.invalid_user, message.invalid_party, message.invalid_tag) == ("ghost", "99", "8")
    assert message.to_user == "zhangsan|ghost party:2|99 tag:7|8"
    [delivered] = sent(sandbox)
    assert sorted(delivered["reached"]) == ["dev1", "dev2", "lisi", "zhangsan"]
    assert delivered["payload"]["text"]["content"] == "Meeting at 3" and delivered["payload"]["agentid"] == 1000002


def test_nobody_reachable_fails_with_81013_and_the_unreached(sandbox, wecom_account, directory,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = wecom.queue_app_message(wecom_account, "markdown", {"content": "**hi**"}, touser="ghost")
    message.refresh_from_db()
    assert message.status == "failed" and message.errcode == 81013 and message.invalid_user == "ghost"
    assert sent(sandbox) == []


@pytest.mark.parametrize(("msgtype", "content"), [
    ("textcard", {"title": "Leave approved", "description": "<div>3 days</div>", "url": "https://x/1",
                  "btntxt": "More"}),
    ("news", {"articles": [{"title": "A", "url": "https://x/a", "picurl": "https://x/a.jpg"}]}),
    ("mpnews", {"articles": [{"title": "A", "thumb_media_id": "T", "content": "<p>body</p>"}]}),
    ("markdown", {"content": "# Title\n> quote"}),
])
def test_every_card_type_and_safe(sandbox, wecom_account, directory, msgtype, content,
                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = wecom.queue_app_message(wecom_account, msgtype, content, touser="@all",
                                          safe=msgtype in ("textcard", "mpnews"))
    message.refresh_from_db()
    assert message.status == "sent"
    [delivered] = sent(sandbox)
    assert delivered["msgtype"] == msgtype and len(delivered["reached"]) == 5
    assert delivered["payload"].get("safe", 0) == (1 if msgtype in ("textcard", "mpnews") else 0)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"msgtype": "music", "content": {"media_id": "x"}}, "unknown WeCom message type"),
    ({"msgtype": "text", "content": {"content": "hi"}, "touser": None}, "no recipient"),
    ({"msgtype": "text", "content": {}}, "content required"),
    ({"msgtype": "news", "content": {"articles": [{"title": "t", "url": "u"}] * 9}}, "1 to 8 articles"),
    ({"msgtype": "markdown", "content": {"content": "x"}, "safe": True}, "cannot be sent as safe"),
    ({"msgtype": "text", "content": {"content": "x" * 2049}}, "2048 bytes"),
])
def test_invalid_messages_are_not_queued(wecom_account, kwargs, error):
    kwargs.setdefault("touser", "zhangsan")
    with pytest.raises(ValidationError, match=error):
        wecom.queue_app_message(wecom_account, **kwargs)
    assert not OutboundMessage.objects.exists()


def test_only_wecom_accounts_send_app_messages(db):
    account = Account.objects.create(name="mp", app_id="wx0123456789abcdef", app_secret="s", token="tok")
    with pytest.raises(ValidationError, match="not a WeCom app"):
        wecom.queue_app_message(account, "text", {"content": "x"}, touser="u")


def test_idempotent_and_retried_after_a_transient_failure(sandbox, wecom_account, directory,
                                                          django_capture_on_commit_callbacks):
    sandbox.state.add_fault("/cgi-bin/message/send", "error", errcode=-1)
    with django_capture_on_commit_callbacks(execute=True):
        first = wecom.queue_app_message(wecom_account, "text", {"content": "once"}, touser="lisi",
                                        idempotency_key="k1")
    again = wecom.queue_app_message(wecom_account, "text", {"content": "once"}, touser="lisi", idempotency_key="k1")
    assert again.pk == first.pk
    first.refresh_from_db()
    assert first.status == "queued" and first.errcode == -1 and first.next_attempt_at is not None
    OutboundMessage.objects.filter(pk=first.pk).update(next_attempt_at=None)
    assert outbound.deliver(first.pk).status == "sent"
    assert len(sent(sandbox)) == 1


def test_channel_sends_text_replies_and_files(sandbox, wecom_account, directory, django_capture_on_commit_callbacks):
    channel = channels.for_account(wecom_account)
    assert channel.code == "wecom"
    with django_capture_on_commit_callbacks(execute=True):
        channel.send_text(wecom_account, "zhangsan", "hello", idempotency_key="t1")
        channel.send_reply(wecom_account, "zhangsan", NewsReply(articles=[
            Article(title="A", description="a", url="https://x/a", pic_url="https://x/a.jpg"),
            Article(title="B", description="b", url="https://x/b", pic_url="")]), idempotency_key="r1")
        channel.send_reply(wecom_account, "zhangsan", TextReply(content="later"))
        channel.send_file(wecom_account, "zhangsan", OutgoingFile("file", "report.pdf", b"%PDF-1.4 data"),
                          idempotency_key="f1")
    messages = sent(sandbox)
    assert [m["msgtype"] for m in messages] == ["text", "news", "text", "file"]
    assert len(messages[1]["payload"]["news"]["articles"]) == 2
    media_id = messages[3]["payload"]["file"]["media_id"]
    from wechat_app.services.tokens import get_client

    assert get_client(wecom_account).media.get(media_id).data == b"%PDF-1.4 data"
    # the same file again with its key: nothing uploaded or sent twice
    channel.send_file(wecom_account, "zhangsan", OutgoingFile("file", "report.pdf", b"%PDF-1.4 data"),
                      idempotency_key="f1")
    uploads = [c for c in sandbox.state.calls if c["path"] == "/cgi-bin/media/upload"]
    assert len(uploads) == 1 and OutboundMessage.objects.filter(status="sent").count() == 4


def test_media_limits_in_the_sandbox(sandbox, wecom_account):
    from wechat_app.client import WeChatAPIError
    from wechat_app.services.tokens import get_client

    client = get_client(wecom_account)
    with pytest.raises(WeChatAPIError) as caught:
        client.media.upload("image", ("a.gif", b"GIF89a...."))
    assert caught.value.errcode == 40005
    with pytest.raises(WeChatAPIError) as caught:
        client.media.get("no-such-media")
    assert caught.value.errcode == 40007
    image = client.media.upload("image", ("a.png", b"\x89PNG\r\n\x1a\n...."))
    assert client.media.get(image["media_id"]).content_type == "image/png"


def test_wechat_push_sends_app_messages(sandbox, wecom_account, directory, django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("wechat_push", "markdown", "**Build** passed", "--account", "hr", "--to", "zhangsan|ghost",
                     "--party", "2", stdout=out)
    message = OutboundMessage.objects.get()
    assert message.status == "sent" and message.invalid_user == "ghost"
    assert "WeCom app message to zhangsan|ghost party:2" in out.getvalue()
    assert sorted(sent(sandbox)[0]["reached"]) == ["dev1", "dev2", "zhangsan"]
    with pytest.raises(CommandError, match="no recipient"):
        call_command("wechat_push", "text", "hi", "--account", "hr")
    with pytest.raises(CommandError, match="WeCom app sends"):
        call_command("wechat_push", "template", "tpl", "--account", "hr", "--to", "zhangsan")


def test_wechat_account_adds_a_wecom_app(db):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    call_command("wechat_account", "add", "hr2", "--channel", "wecom", "--app-id", CORP_ID, "--agent-id", "1000005",
                 "--app-secret", "s3cret-app", "--generate-token", "--generate-aes-key", stdout=out)
    account = Account.objects.get(name="hr2")
    assert (account.channel, account.agent_id, account.encrypt_mode) == ("wecom", 1000005, "safe")
    with pytest.raises(CommandError, match="agent_id"):
        call_command("wechat_account", "add", "hr3", "--channel", "wecom", "--app-id", CORP_ID,
                     "--app-secret", "s", "--generate-token", "--generate-aes-key")
    with pytest.raises(CommandError, match="not a WeCom corp id"):
        call_command("wechat_account", "add", "hr4", "--channel", "wecom", "--app-id", "ww-bad!", "--agent-id", "1",
                     "--app-secret", "s", "--generate-token", "--generate-aes-key")
    call_command("wechat_account", "list", stdout=out)
    assert "wecom" in out.getvalue() and "1000005" in out.getvalue()
