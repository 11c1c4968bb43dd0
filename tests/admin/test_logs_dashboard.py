"""Message log (read-only, filters, conversation) and dashboard aggregates."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from wechat_app.models import MessageLog
from wechat_app.services import stats

from .conftest import make_log, make_rule

pytestmark = pytest.mark.django_db
LOG = "/admin/wechat_app/messagelog/"


def test_log_is_read_only(staff_client, admin_client_, account_a):
    log = make_log(account_a)
    assert staff_client.get(LOG + "add/").status_code == 403
    response = admin_client_.post(f"{LOG}{log.pk}/change/", {"text": "edited"})
    assert response.status_code == 403
    log.refresh_from_db()
    assert log.text == "hi"


def test_log_filters_and_search(admin_client_, account_a, account_b):
    rule = make_rule(account_a, "greet")
    make_log(account_a, user="o_alice", text="hello there", rule=rule)
    make_log(account_a, user="o_bob", text="", msg_type="event", event="subscribe")
    old = make_log(account_b, user="o_carol", text="price?", status="unmatched")
    MessageLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))

    def users(**params):
        return sorted(log.user for log in admin_client_.get(LOG, params).context["cl"].result_list)

    assert users(account__id__exact=account_a.pk) == ["o_alice", "o_bob"]
    assert users(msg_type__exact="event") == ["o_bob"]
    assert users(rule__id__exact=rule.pk) == ["o_alice"]
    assert users(status__exact="unmatched") == ["o_carol"]
    # As Django's DateFieldListFilter links it: an aware midnight, not a bare date.
    since = str(timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=7))
    assert users(**{"created_at__gte": since}) == ["o_alice", "o_bob"]
    assert users(q="o_ali") == ["o_alice"]
    assert users(q="there") == ["o_alice"]


def test_log_list_has_no_query_per_row(admin_client_, account_a, django_assert_max_num_queries):
    rule = make_rule(account_a, "greet")
    for i in range(60):
        make_log(account_a, user=f"u{i}", rule=rule if i % 2 else None)
    admin_client_.get(LOG)
    with django_assert_max_num_queries(12):
        response = admin_client_.get(LOG)
    assert len(response.context["cl"].result_list) == 50


def test_conversation_is_the_users_thread_in_order(staff_client, account_a):
    rule = make_rule(account_a, "greet")
    first = make_log(account_a, user="o_x", text="first", rule=rule)
    second = make_log(account_a, user="o_x", text="second", status="unmatched")
    make_log(account_a, user="o_other", text="not mine")
    MessageLog.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    response = staff_client.get(f"{LOG}conversation/{account_a.pk}/", {"user": "o_x"})
    assert [t.pk for t in response.context["turns"]] == [first.pk, second.pk]
    html = response.content.decode()
    assert html.index("first") < html.index("second") and "not mine" not in html


def test_percentiles_are_nearest_rank_and_computed_in_the_database(account_a, django_assert_max_num_queries):
    for ms in range(1, 101):
        make_log(account_a, latency=float(ms))
    make_log(account_a, latency=None)
    with django_assert_max_num_queries(3):
        result = stats.latency_percentiles(account_a)
    assert result == {"n": 100, 50: 50.0, 95: 95.0}
    assert stats.latency_percentiles(account_a, percentiles=(99,))[99] == 99.0


def test_percentiles_without_data(account_a):
    assert stats.latency_percentiles(account_a) == {"n": 0, 50: None, 95: None}


def test_messages_per_day_by_type_top_rules_and_unmatched(account_a, account_b):
    rule = make_rule(account_a, "greet")
    now = timezone.now()
    for days_ago, msg_type in [(0, "text"), (0, "text"), (0, "event"), (3, "image"), (35, "text")]:
        log = make_log(account_a, msg_type=msg_type, rule=rule if msg_type == "text" else None)
        MessageLog.objects.filter(pk=log.pk).update(created_at=now - timedelta(days=days_ago))
    make_log(account_b, msg_type="voice")  # another account is not counted
    per_day = stats.messages_per_day(account_a, 30)
    assert len(per_day["days"]) == 30 and per_day["days"][-1] == timezone.localdate()
    assert per_day["series"]["text"][-1] == 2 and sum(per_day["series"]["text"]) == 2
    assert per_day["series"]["event"][-1] == 1 and per_day["series"]["image"][-4] == 1
    assert "voice" not in per_day["series"]
    assert [(r["rule_name"], r["n"]) for r in stats.top_rules(account_a)] == [("greet", 2)]
    for text, user in [("hours?", "u1"), ("hours?", "u2"), ("hours?", "u2"), ("deliver?", "u1")]:
        make_log(account_a, user=user, text=text, status="unmatched")
    unmatched = stats.unmatched_messages(account_a)
    assert [(u["text"], u["n"], u["users"]) for u in unmatched] == [("hours?", 3, 2), ("deliver?", 1, 1)]


def test_dashboard_page(staff_client, account_a):
    rule = make_rule(account_a, "greet")
    make_log(account_a, rule=rule, latency=4.0)
    make_log(account_a, text="unknown question", status="unmatched", latency=2.0)
    response = staff_client.get(f"/admin/wechat_app/account/{account_a.pk}/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "wechat_app/vendor/chartjs/chart.umd.min.js" in html and "cdn" not in html.lower()
    assert 'id="wx-days-data"' in html and "unknown question" in html
    assert response.context["p50"] == 2.0 and response.context["p95"] == 4.0


# ---- WeChat's own reports are not users ---------------------------------------------------------
def test_system_events_are_defined_once_in_the_protocol():
    from wechat_app.protocol import SYSTEM_EVENTS, is_system_event, parse_message

    assert {"templatesendjobfinish", "masssendjobfinish"} <= SYSTEM_EVENTS
    assert is_system_event("TEMPLATESENDJOBFINISH") and is_system_event("MassSendJobFinish")
    assert not is_system_event("subscribe") and not is_system_event("CLICK") and not is_system_event(None)
    xml = ("<xml><ToUserName>gh_1</ToUserName><FromUserName>o_u</FromUserName><CreateTime>1</CreateTime>"
           "<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>9</MsgID>"
           "<Status>success</Status></xml>")
    assert parse_message(xml).is_system_event


def _job_finish(account, user, **kwargs):
    return make_log(account, user=user, text="", msg_type="event", event="TEMPLATESENDJOBFINISH",
                    status="unmatched", latency=90.0,
                    message={"type": "event", "param": {"status": "failed:user block"}}, **kwargs)


def test_system_events_are_marked_and_filtered_in_the_log(admin_client_, account_a):
    rule = make_rule(account_a, "greet")
    make_log(account_a, user="o_alice", text="hello", rule=rule)
    make_log(account_a, user="o_bob", text="", msg_type="event", event="subscribe")
    _job_finish(account_a, "o_carol")
    make_log(account_a, user="o_dave", text="", msg_type="event", event="masssendjobfinish", status="unmatched")

    def users(**params):
        return sorted(log.user for log in admin_client_.get(LOG, params).context["cl"].result_list)

    assert users(sender="system") == ["o_carol", "o_dave"]
    assert users(sender="user") == ["o_alice", "o_bob"]
    html = admin_client_.get(LOG).content.decode()
    assert html.count('class="wx-status wx-status-sys"') == 2  # the marker, instead of "Unmatched"
    assert "⚙ TEMPLATESENDJOBFINISH · failed:user block" in html
    assert html.count("wx-status-warn") == 0
    assert "WeChat (system events)" in html  # the filter


def test_system_events_are_not_counted_as_users(staff_client, account_a):
    rule = make_rule(account_a, "greet")
    for i in range(6):
        make_log(account_a, user=f"o_user{i % 2}", text="hello", rule=rule, latency=2.0)
    for i in range(6):  # six template sends later: WeChat reports on each, "from" its recipient
        _job_finish(account_a, f"o_recipient{i}")
    totals = stats.totals(account_a)
    assert (totals["messages"], totals["users"], totals["answered"], totals["system_events"]) == (6, 2, 6, 6)
    assert "event" not in stats.messages_per_day(account_a)["series"]
    assert stats.latency_percentiles(account_a)[95] == 2.0
    response = staff_client.get(f"/admin/wechat_app/account/{account_a.pk}/dashboard/")
    assert response.context["answer_rate"] == 100
    assert "6 system events not counted" in response.content.decode()


# ---- unanswered questions include those only the fallback answered ------------------------------
def test_fallback_answers_are_unanswered_questions(staff_client, account_a):
    fallback = make_rule(account_a, "fallback", match_kind="default", value="", reply="Sorry?")
    greet = make_rule(account_a, "greet", value="hello")
    ask = make_rule(account_a, "ask-name", value="register")
    # A follow-up's catch-all is the answer to its parent's question, not a fallback.
    name = make_rule(account_a, "ask-name.1", match_kind="default", value="", parent=ask, reply="Thanks!")
    for user in ("u1", "u2", "u2"):
        make_log(account_a, user=user, text="what is the price", rule=fallback)
    make_log(account_a, text="hello", rule=greet)
    make_log(account_a, text="Alice", rule=name)
    make_log(account_a, text="order status", status="unmatched")
    # A code rule (registered in Python) has no row: it answered, it is not the fallback.
    MessageLog.objects.filter(pk=make_log(account_a, text="weather").pk).update(rule_name="weather-hook")
    rows = stats.unmatched_messages(account_a)
    assert [(r["text"], r["n"], r["fallback"], r["users"]) for r in rows] == [
        ("what is the price", 3, 3, 2), ("order status", 1, 0, 1)]
    totals = stats.totals(account_a)
    assert (totals["messages"], totals["answered"], totals["fallback"]) == (7, 3, 3)
    response = staff_client.get(f"/admin/wechat_app/account/{account_a.pk}/dashboard/")
    html = response.content.decode()
    assert response.context["answer_rate"] == 43  # 3 of 7: "Sorry?" is no answer
    assert "what is the price" in html and "found a rule" not in html


# ---- the entry page -----------------------------------------------------------------------------------
def test_log_entry_shows_one_rule_the_latency_and_the_reply_as_the_user_sees_it(staff_client, account_a):
    rule = make_rule(account_a, "specials")
    log = make_log(account_a, text="specials", rule=rule, latency=1.23456)
    MessageLog.objects.filter(pk=log.pk).update(reply={"type": "news", "articles": [
        {"title": "Osmanthus latte", "url": "https://example.com/1", "pic_url": "https://example.com/1.jpg"},
        {"title": "Chestnut cake", "url": "https://example.com/2"}]})
    html = staff_client.get(f"{LOG}{log.pk}/change/").content.decode()
    assert len(re.findall(r"<label[^>]*>Rule:</label>", html)) == 1
    assert f'href="/admin/wechat_app/rule/{rule.pk}/change/">specials</a>' in html
    assert "1.2 ms" in html and "1.23456" not in html
    preview = html[html.index('class="wx-reply-preview'):]
    preview = preview[:preview.index("</div>\n")]
    assert 'class="wx-news"' in preview and "Osmanthus latte" in preview and "Chestnut cake" in preview
    assert '"type"' not in preview


def test_log_entry_of_a_music_reply_and_of_no_reply(staff_client, account_a):
    rule = make_rule(account_a, "song")
    music = make_log(account_a, text="song", rule=rule)
    MessageLog.objects.filter(pk=music.pk).update(reply={"type": "music", "title": "Lotus Pond",
                                                         "thumb_media_id": "T1"})
    html = staff_client.get(f"{LOG}{music.pk}/change/").content.decode()
    assert 'class="wx-bubble wx-music"' in html and "Lotus Pond" in html
    silent = make_log(account_a, text="shh", status="no_reply")
    assert "no reply" in staff_client.get(f"{LOG}{silent.pk}/change/").content.decode()
