"""The "try it" page: runs the real engine, keeps its own follow-up state, writes no log."""
import pytest
from django.core.cache import cache

from wechat_app.models import MessageLog
from wechat_app.services import rules as rule_services

from .conftest import make_rule

pytestmark = pytest.mark.django_db
URL = "/admin/wechat_app/rule/simulator/"
JSON = {"HTTP_ACCEPT": "application/json"}


def send(client, account, text="", kind="text", key="", user="o_tester"):
    return client.post(URL, {"account": account.pk, "user": user, "kind": kind, "text": text, "key": key,
                             "action": "send"}, **JSON)


@pytest.fixture
def game(account_a):
    parent = make_rule(account_a, "game", match_kind="regex", value="^game$", reply="Pick a number from 1 to 9",
                       follow_up_timeout=300)
    make_rule(account_a, "game/1", parent=parent, match_kind="regex", value="^([1-9])$", reply="You picked {1}")
    make_rule(account_a, "welcome", match_kind="event", value="subscribe", reply="Welcome aboard!")
    make_rule(account_a, "menu", match_kind="event", value="CLICK", match_key="V1001",
              replies=[{"type": "news", "articles": [{"title": "Today", "url": "http://x/1"}]}])
    return parent


def test_page_renders_with_the_users_accounts(staff_client, account_a, account_b):
    response = staff_client.get(URL)
    assert response.status_code == 200
    choices = [str(c[1]) for c in response.context["form"].fields["account"].choices]
    assert "alpha" in choices and "beta" not in choices


def test_chat_turn_shows_rule_and_reply_and_follow_up_carries_over(staff_client, account_a, game):
    first = send(staff_client, account_a, "game").json()
    assert first["turn"]["rule_name"] == "game" and first["turn"]["follow_up"] is True
    assert "Pick a number from 1 to 9" in first["html"] and f"/admin/wechat_app/rule/{game.pk}/change/" in first["html"]
    second = send(staff_client, account_a, "7").json()
    assert second["turn"]["out"] == {"type": "text", "content": "You picked 7"}
    assert "You picked 7" in second["html"] and "wx-bubble" in second["html"]
    # nothing is logged, nothing touches the live namespace
    assert not MessageLog.objects.exists()
    assert cache.get(rule_services.state_key(account_a.pk, "o_tester", "live")) is None


def test_events_and_news_cards(staff_client, account_a, game):
    welcome = send(staff_client, account_a, kind="subscribe").json()
    assert welcome["turn"]["out"]["content"] == "Welcome aboard!"
    menu = send(staff_client, account_a, kind="CLICK", key="V1001").json()
    assert "wx-news" in menu["html"] and "Today" in menu["html"]
    none = send(staff_client, account_a, "nothing matches this").json()
    assert none["turn"]["matched"] is False and "no rule matched" in none["html"]


def test_reset_clears_follow_up_state_and_transcript(staff_client, account_a, game, staff_a):
    send(staff_client, account_a, "game")
    key = rule_services.state_key(account_a.pk, "o_tester", f"sim:{staff_a.pk}")
    assert cache.get(key) is not None
    staff_client.post(URL, {"account": account_a.pk, "user": "o_tester", "kind": "text", "action": "reset"}, **JSON)
    assert cache.get(key) is None
    # After the reset "7" is not a follow-up answer any more.
    assert send(staff_client, account_a, "7").json()["turn"]["matched"] is False
    page = staff_client.get(URL, {"account": account_a.pk, "user": "o_tester"})
    assert len(page.context["turns"]) == 1


def test_transcript_survives_a_reload(staff_client, account_a, game):
    send(staff_client, account_a, "game")
    page = staff_client.get(URL, {"account": account_a.pk, "user": "o_tester"}).content.decode()
    assert "Pick a number from 1 to 9" in page


def test_invalid_input_gets_errors(staff_client, account_a):
    response = send(staff_client, account_a, "")
    assert response.status_code == 400 and "text" in response.json()["errors"]
    response = send(staff_client, account_a, kind="CLICK")
    assert "key" in response.json()["errors"]


def test_without_javascript_the_form_posts_and_redirects(staff_client, account_a, game):
    response = staff_client.post(URL, {"account": account_a.pk, "user": "o_tester", "kind": "text", "text": "game",
                                       "action": "send"})
    assert response.status_code == 302
    assert "Pick a number" in staff_client.get(response["Location"]).content.decode()


def test_session_is_shown_and_reset(staff_client, account_a, staff_a):
    """The simulated user's context.session shows beside the chat; reset clears it (issue 12 item 5)."""
    from wechat_app.engine import registry

    with registry.isolated():
        @registry.rule("remember", regex=r"^my name is (\w+)$")
        def remember(message, context):
            context.session["name"] = context.captures[1]
            return "Noted"

        turn = send(staff_client, account_a, "my name is Ann").json()
        assert turn["turn"]["out"]["content"] == "Noted"
        assert '"name": "Ann"' in turn["session"]
        page = staff_client.get(URL, {"account": account_a.pk, "user": "o_tester"})
        assert "&quot;name&quot;: &quot;Ann&quot;" in page.content.decode()
        # the live session of the same openid is untouched
        assert rule_services.get_session(account_a, "o_tester") == {}
        staff_client.post(URL, {"account": account_a.pk, "user": "o_tester", "kind": "text", "action": "reset"}, **JSON)
        assert rule_services.get_session(account_a, "o_tester", f"sim:{staff_a.pk}") == {}
        page = staff_client.get(URL, {"account": account_a.pk, "user": "o_tester"})
        assert "Ann" not in page.content.decode()


def test_error_replies_show_in_the_chat(staff_client, account_a):
    """The simulator shows the account's "no rule" and "a rule failed" answers (issue 12 item 6)."""
    from wechat_app.engine import registry

    account_a.no_match_reply, account_a.error_reply = "Sorry?", "Oops"
    account_a.save()
    with registry.isolated():
        @registry.rule("boom", exact="boom")
        def boom(message, context):
            raise RuntimeError("bug in a rule")

        none = send(staff_client, account_a, "nothing matches this").json()
        assert none["turn"]["matched"] is False and none["turn"]["out"]["content"] == "Sorry?"
        failed = send(staff_client, account_a, "boom").json()
        assert "bug in a rule" in failed["turn"]["error"] and failed["turn"]["out"]["content"] == "Oops"
        assert "Oops" in failed["html"] and "bug in a rule" in failed["html"]
