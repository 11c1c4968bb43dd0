"""What follows a WeCom delivery: the 5-second rule (a code rule that overruns REPLY_BUDGET answers
"success" at once, its reply follows as an app message to the member) and the fetch of the media
members send."""
import time

import pytest

from tests.polling import wait_until
from wechat_app.engine import registry
from wechat_app.models import Account, MessageLog, OutboundMessage
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

from .conftest import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _eager(eager_celery):
    """Tasks run in-process."""


def test_a_slow_rule_answers_later_with_an_app_message(sandbox, live_server, settings):
    settings.WECHAT_APP = {"REPLY_BUDGET": 0.3}
    app = sandbox.state.add_corp_app(CORP_ID, SECRET, AGENT_ID, token=TOKEN, encoding_aes_key=AES_KEY,
                                     callback_url=f"{live_server.url}/wechat/callback/slowhr/")
    sandbox.state.wecom.add_users(CORP_ID, ["zhangsan"])
    account = Account(name="slowhr", channel="wecom", app_id=CORP_ID, agent_id=AGENT_ID, app_secret=SECRET,
                      token=TOKEN, encoding_aes_key=AES_KEY, api_base_url=sandbox.url)
    account.full_clean()
    account.save()
    with registry.isolated():
        @registry.rule("slow", exact="slow", accounts=["slowhr"])
        def slow(message, context):
            time.sleep(1.0)
            return f"sorry for the wait, {message.uid}"

        pushed = sandbox.push_wecom(app.owner, "zhangsan", {"Content": "slow"}, msg_type="text")
        assert pushed["status"] == 200 and pushed["body"] == "success"
        assert wait_until(lambda: sandbox.state.wecom.list_messages(touser="zhangsan"))
    [sent] = sandbox.state.wecom.list_messages(touser="zhangsan")
    assert sent["payload"]["text"]["content"] == "sorry for the wait, zhangsan"
    assert wait_until(lambda: MessageLog.objects.get().status == MessageLog.Status.REPLIED)
    assert OutboundMessage.objects.get().kind == "wecom_app"


def test_media_members_send_is_fetched_into_storage(sandbox, live_server, settings, tmp_path):
    from wechat_app.models import IncomingMedia
    from wechat_app.sandbox.wecom import add_user_media

    settings.WECHAT_APP = {"FETCH_INCOMING_MEDIA": True}
    settings.MEDIA_ROOT = str(tmp_path)
    app = sandbox.state.add_corp_app(CORP_ID, SECRET, AGENT_ID, token=TOKEN, encoding_aes_key=AES_KEY,
                                     callback_url=f"{live_server.url}/wechat/callback/pics/")
    account = Account(name="pics", channel="wecom", app_id=CORP_ID, agent_id=AGENT_ID, app_secret=SECRET,
                      token=TOKEN, encoding_aes_key=AES_KEY, api_base_url=sandbox.url)
    account.full_clean()
    account.save()
    media_id = add_user_media(sandbox.state, CORP_ID, "image", b"\x89PNG\r\n\x1a\n-a-photo", "photo.png")
    pushed = sandbox.push_wecom(app.owner, "zhangsan", {"PicUrl": "http://p/1.png", "MediaId": media_id},
                                msg_type="image")
    assert pushed["status"] == 200
    assert wait_until(lambda: IncomingMedia.objects.filter(status="done").exists())
    stored = IncomingMedia.objects.get()
    assert stored.media_id == media_id and stored.size == len(b"\x89PNG\r\n\x1a\n-a-photo")
