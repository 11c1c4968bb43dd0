"""Customer-service messages and transfer replies may name a kf account."""
import pytest
from django.core.exceptions import ValidationError

from tests.mass.conftest import APP_ID
from wechat_app.client import WeChatAPIError, custom_message
from wechat_app.models import MessageLog
from wechat_app.protocol.replies import TransferCustomerServiceReply, render_reply
from wechat_app.services import kf as kf_service
from wechat_app.services import outbound
from wechat_app.services.tokens import get_client

pytestmark = pytest.mark.django_db


def test_custom_message_body_names_the_kf_account():
    body = custom_message("o1", "text", {"content": "Hi", "kf_account": "alice@gh_shop"})
    assert body == {"touser": "o1", "msgtype": "text", "text": {"content": "Hi"},
                    "customservice": {"kf_account": "alice@gh_shop"}}
    with pytest.raises(Exception, match="kf_account"):
        custom_message("o1", "text", {"content": "Hi", "kf_account": "no-at"})


def test_transfer_reply_names_the_kf_account():
    xml = render_reply(TransferCustomerServiceReply(kf_account="alice@gh_shop"), "o1", "gh_shop", 1)
    assert "<TransInfo><KfAccount><![CDATA[alice@gh_shop]]></KfAccount></TransInfo>" in xml


def test_the_sandbox_checks_the_kf_account(sandbox, account, followers):
    client = get_client(account)
    with pytest.raises(WeChatAPIError) as err:
        client.message.custom.send(followers[0], "text", {"content": "Hi", "kf_account": "alice@gh_shop"})
    assert err.value.errcode == 65401
    kf_service.add_kf_account(account, "alice@gh_shop", "Alice")
    client.message.custom.send(followers[0], "text", {"content": "Hi", "kf_account": "alice@gh_shop"})
    (message,) = sandbox.state.list_messages(APP_ID, kind="custom")
    assert message["payload"]["customservice"] == {"kf_account": "alice@gh_shop"}


def test_an_operator_reply_sent_as_a_kf_account(sandbox, account, followers, admin_client,
                                                django_capture_on_commit_callbacks):
    kf_service.add_kf_account(account, "alice@gh_shop", "Alice")
    MessageLog.objects.create(account=account, dedupe_key="k1", user=followers[0], msg_type="text", text="help?",
                              status="replied")
    with pytest.raises(ValidationError):
        outbound.reply_as_operator(account, followers[0], "Hi", kf_account="no-at")
    url = f"/admin/wechat_app/messagelog/conversation/{account.pk}/?user={followers[0]}"
    page = admin_client.get(url)
    assert 'value="alice@gh_shop"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"text": "Alice here", "key": "a" * 32, "kf_account": "alice@gh_shop"})
    (message,) = sandbox.state.list_messages(APP_ID, kind="custom")
    assert message["payload"]["customservice"] == {"kf_account": "alice@gh_shop"}
    assert message["payload"]["text"] == {"content": "Alice here"}
