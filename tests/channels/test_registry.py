"""The channel registry finds each account's kind-specific half."""
import pytest

from wechat_app import channels
from wechat_app.models import Account
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)


def test_official_account_channel_is_found_for_the_default_kind():
    account = Account(name="a", channel=Account.Channel.OFFICIAL_ACCOUNT)
    channel = channels.for_account(account)
    assert channel.code == "mp" and channel.receives == "callback"


def test_unknown_channel_is_a_clear_error():
    with pytest.raises(channels.ChannelError, match="no channel 'fax'"):
        channels.get("fax")


def test_unsupported_operation_names_the_kind():
    class Pager(channels.Channel):
        code = "pager"

    with pytest.raises(channels.ChannelError, match="pager accounts have no typing indicator"):
        Pager().typing(None, "u", on=True)


@pytest.mark.django_db
def test_official_account_text_goes_out_as_a_customer_service_message(sandbox, eager_celery, django_capture_on_commit_callbacks):
    from wechat_app.models import OutboundMessage

    sandbox.state.add_app("wxchannel000001", "channel-secret")
    sandbox.state.add_followers("wxchannel000001", followers=["oUser01"])
    account = Account.objects.create(name="chan", app_id="wxchannel000001", app_secret="channel-secret",
                                     token="tok123", api_base_url=sandbox.url)
    with django_capture_on_commit_callbacks(execute=True):  # the delivery task is queued on commit
        channels.for_account(account).send_text(account, "oUser01", "hi", idempotency_key="k1")
    message = OutboundMessage.objects.get()
    assert message.to_user == "oUser01" and message.status == OutboundMessage.Status.SENT
    (sent,) = sandbox.state.list_messages(app_id="wxchannel000001")
    assert sent["payload"]["text"]["content"] == "hi"
