"""The callback with the real reply engine and rules in the database, over real HTTP.

An independent (wechatpy-based) client gets the right reply for every rule kind, in safe mode.
"""
import time

import pytest

from tests.wechat_client import message_xml
from wechat_app.models import MessageLog, Rule
from wechat_app.services.rules import import_rules

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

RULES = """
- name: welcome
  match: {event: subscribe}
  reply: Welcome aboard!
- name: menu-music
  match: {event: CLICK, key: V1001_TODAY_MUSIC}
  reply: {type: music, title: Song, description: Desc, music_url: 'http://x/a.mp3', hq_music_url: 'http://x/a.m4a', thumb_media_id: T1}
- name: news
  priority: 5
  match: {exact: news}
  reply: {type: news, articles: [{title: A, description: a, url: 'http://x/1', pic_url: 'http://x/1.jpg'}]}
- name: weather
  match: {contains: weather}
  reply: Sunny
- name: echo
  match: {regex: '^say (\\w+)$'}
  reply: 'You said {1}, not \\{1}'
- name: game
  match: {regex: '^game$'}
  reply: Pick a number from 1 to 9
  follow_ups: {timeout: 300, retries: 1, rules: [{name: pick, match: {regex: '^([1-9])$'}, reply: 'You picked {1}'}]}
- name: picture
  match: {type: image}
  reply: {type: image, media_id: IMG1}
- name: quiet
  match: {exact: shh}
  no_reply: true
- name: fallback
  match: {default: true}
  reply: Sorry?
"""


@pytest.fixture
def client(make_account, wechat):
    account = make_account(mode="safe")
    import_rules(account, RULES)
    return wechat(account)


def send(client, msg_type="text", **fields):
    return client.send(message_xml(msg_type, **fields), encrypted=True)


def test_every_rule_kind(client):
    assert send(client, "event", Event="subscribe").fields["Content"] == "Welcome aboard!"
    music = send(client, "event", Event="CLICK", EventKey="V1001_TODAY_MUSIC").fields
    assert music["MsgType"] == "music" and music["Music"]["ThumbMediaId"] == "T1"
    news = send(client, Content="news").fields
    assert news["MsgType"] == "news" and news["ArticleCount"] == "1" and news["Articles"]["item"]["Title"] == "A"
    assert send(client, Content="what's the weather like").fields["Content"] == "Sunny"
    assert send(client, Content="say hi").fields["Content"] == "You said hi, not {1}"
    assert send(client, "image", PicUrl="http://x/p.jpg", MediaId="M").fields["Image"]["MediaId"] == "IMG1"
    assert send(client, Content="gibberish").fields["Content"] == "Sorry?"
    assert send(client, "voice", MediaId="V", Format="amr", Recognition="weather today").fields["Content"] == "Sunny"
    quiet = send(client, Content="shh")
    assert quiet.response.status_code == 200 and quiet.response.text == "success"
    # events nothing matches: no default reply
    assert send(client, "event", Event="VIEW", EventKey="http://x").response.text == "success"

    statuses = dict(MessageLog.objects.values_list("text", "status").filter(text__in=["shh", "gibberish"]))
    assert statuses == {"shh": "no_reply", "gibberish": "replied"}
    log = MessageLog.objects.get(text="news")
    assert log.rule_id == Rule.objects.get(name="news").pk and log.rule_name == "news"


def test_follow_up_conversation(client):
    assert send(client, Content="game").fields["Content"] == "Pick a number from 1 to 9"
    assert send(client, Content="7").fields["Content"] == "You picked 7"
    assert send(client, Content="7").fields["Content"] == "Sorry?"  # the conversation is over


def test_rule_change_is_seen_by_the_next_message(client):
    assert send(client, Content="weather").fields["Content"] == "Sunny"
    rule = Rule.objects.get(name="weather")
    rule.replies = [{"type": "text", "content": "Rainy"}]
    rule.save()
    assert send(client, Content="weather").fields["Content"] == "Rainy"


def test_retry_with_random_replies_is_identical(make_account, wechat):
    account = make_account(mode="compatible")
    import_rules(account, "- name: r\n  match: {default: true}\n  reply: [" + ", ".join(f"'r{i}'" for i in range(50)) + "]\n")
    client = wechat(account)
    xml = message_xml(Content="anything", create_time=int(time.time()))
    answers = [client.send(xml, encrypted=i % 2 == 0) for i in range(4)]
    assert len({a.xml for a in answers}) == 1
    assert MessageLog.objects.get().retry_count == 3
