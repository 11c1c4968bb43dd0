"""The REST API refuses what the model refuses (issue 7 items 4, 5, 6, 13, 14): 400 naming the
problem, nothing written, never a 500 (PostgreSQL cannot store NUL; cycles made imports spin)."""
import json

import pytest

from tests.api.test_api import admin_client  # noqa: F401  (fixture: a logged-in superuser)
from tests.engine.test_file_limits import ALIAS_BOMB
from wechat_app.models import Account, Rule
from tests.api_errors import error_fields, message

pytestmark = pytest.mark.django_db

RULES_URL = "/wechat/api/rules/"
IMPORT_URL = "/wechat/api/accounts/shop/rules/import/"


@pytest.fixture
def account():
    return Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="S3cr3tValue0001",
                                  token="tok123")


def send(client, url, data, method="post"):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


def new_rule(**fields):
    return {"account": "shop", "name": "r", "match_kind": "contains", "match_value": "x",
            "replies": [{"type": "text", "content": "ok"}], **fields}


def test_post_a_regex_re2_cannot_run_is_refused_with_the_reason(admin_client, account):
    resp = send(admin_client, RULES_URL, new_rule(match_kind="regex", match_value=r"(?<=\$)(\d+)"))
    assert resp.status_code == 400
    assert "look-behind" in error_fields(resp)["match_value"][0]
    assert not Rule.objects.exists()


def test_post_the_redos_pattern_is_accepted(admin_client, account):
    # Harmless now: RE2 runs it in linear time.
    assert send(admin_client, RULES_URL, new_rule(match_kind="regex", match_value="^(a+)+$")).status_code == 201


@pytest.mark.parametrize("replies,field_text", [
    ([{"type": "news", "articles": [{"title": "t", "url": "javascript:alert(1)"}]}], "url must be an http"),
    ([{"type": "music", "thumb_media_id": "m", "hq_music_url": "vbscript:x"}], "hq_music_url must be an http"),
    ([{"type": "text", "content": "a\u0000b"}], "U+0000"),
])
def test_post_unsafe_reply_values_is_refused(admin_client, account, replies, field_text):
    resp = send(admin_client, RULES_URL, new_rule(replies=replies))
    assert resp.status_code == 400 and field_text in error_fields(resp)["replies"][0]
    assert not Rule.objects.exists()


def test_patch_parent_to_itself_or_below_itself_is_refused(admin_client, account):
    top = Rule.objects.create(account=account, name="top", match_kind="contains", match_value="a", replies=["a"])
    child = Rule.objects.create(account=account, name="child", match_kind="contains", match_value="b",
                                replies=["b"], parent=top)
    resp = send(admin_client, f"{RULES_URL}{top.pk}/", {"parent": top.pk}, method="patch")
    assert resp.status_code == 400 and "itself" in error_fields(resp)["parent"][0]
    resp = send(admin_client, f"{RULES_URL}{top.pk}/", {"parent": child.pk}, method="patch")
    assert resp.status_code == 400 and "own follow-ups" in error_fields(resp)["parent"][0]
    top.refresh_from_db()
    assert top.parent_id is None
    # and imports still work (they used to spin forever holding row locks)
    assert send(admin_client, IMPORT_URL, {"rules": "- {name: top, match: {contains: z}, reply: z}"}).status_code == 200


def test_post_a_follow_up_too_deep_is_refused(admin_client, account):
    parent = None
    for level in range(1, 11):
        parent = Rule.objects.create(account=account, name=f"r{level}", match_kind="contains",
                                     match_value=f"k{level}", parent=parent)
    resp = send(admin_client, RULES_URL, new_rule(name="r11", parent=parent.pk))
    assert resp.status_code == 400 and "at most 10 levels" in error_fields(resp)["parent"][0]


@pytest.mark.parametrize("rules,message", [
    (ALIAS_BOMB, "aliases"),
    ("[" * 20_000 + "]" * 20_000, "deep"),
    ("- {name: bad, match: {regex: '(a)\\1'}, reply: x}", "back-references"),
    ("- {name: bad, match: {contains: a}, reply: {type: news, articles: [{title: t, url: 'javascript:x'}]}}",
     "http"),
])
def test_import_refuses_bad_files_with_400(admin_client, account, rules, message):
    for dry_run in (True, False):
        resp = send(admin_client, IMPORT_URL, {"rules": rules, "dry_run": dry_run})
        assert resp.status_code == 400 and message in error_fields(resp)["rules"][0]
    assert not Rule.objects.exists()


def _nested_rules(levels):
    data = [{"name": "a", "match": {"contains": "a"}, "reply": "b"}]
    nested = data[0]
    for _ in range(levels):
        nested["reply"] = [{"type": "text"}]
        nested = nested["reply"][0]
    return data


def test_import_refuses_loaded_data_nested_too_deep(admin_client, account):
    # Within the API's JSON depth limit (64) but beyond the rule file's (RULE_FILE_MAX_NESTING, 40).
    resp = send(admin_client, IMPORT_URL, {"rules": _nested_rules(25)})
    assert resp.status_code == 400 and "more than 40 deep" in error_fields(resp)["rules"][0]
    # Deeper still, the JSON parser refuses the body before anything reads it.
    resp = send(admin_client, IMPORT_URL, {"rules": _nested_rules(60)})
    assert resp.status_code == 400 and "nested deeper than 64" in message(resp)
