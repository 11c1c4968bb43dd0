"""The rule list: hit counts, search, filters, editable priority, bulk actions, no query per row."""
from datetime import timedelta

import pytest
from django.utils import timezone

from wechat_app.models import MessageLog, Rule

from .conftest import make_log, make_rule

pytestmark = pytest.mark.django_db
LIST = "/admin/wechat_app/rule/"


def test_hit_counts_cover_the_last_seven_days_and_last_matched(admin_client_, account_a):
    hot, cold = make_rule(account_a, "hot"), make_rule(account_a, "cold")
    for _ in range(3):
        make_log(account_a, rule=hot)
    old = make_log(account_a, rule=cold)
    MessageLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    response = admin_client_.get(LIST)
    rows = {r.name: r for r in response.context["cl"].result_list}
    assert rows["hot"].hits == 3 and rows["cold"].hits == 0
    assert rows["cold"].last_hit is not None  # last matched is all-time
    assert make_rule(account_a, "never").pk and admin_client_.get(LIST).status_code == 200


def test_list_has_no_query_per_row(admin_client_, account_a, django_assert_max_num_queries):
    parent = make_rule(account_a, "parent")
    for i in range(40):
        rule = make_rule(account_a, f"rule{i}", parent=parent if i % 5 == 0 else None)
        make_log(account_a, rule=rule)
    admin_client_.get(LIST)  # warm the session/content-type caches
    with django_assert_max_num_queries(12):
        response = admin_client_.get(LIST)
    assert len(response.context["cl"].result_list) == 41


def test_search_by_name_keyword_and_reply_text(admin_client_, account_a):
    make_rule(account_a, "greeting", value="hello", reply="欢迎光临")
    make_rule(account_a, "prices", value="price", reply="See our menu")
    make_rule(account_a, "menu-news", value="news", replies=[{"type": "news", "articles": [{"title": "Weekly digest"}]}])

    def names(q):
        return sorted(r.name for r in admin_client_.get(LIST, {"q": q}).context["cl"].result_list)

    assert names("greet") == ["greeting"]
    assert names("price") == ["prices"]
    assert names("欢迎") == ["greeting"]  # non-ASCII reply text (stored \\u-escaped on SQLite)
    assert names("digest") == ["menu-news"]
    assert names("MENU") == ["menu-news", "prices"]


def test_filters_by_account_kind_enabled(admin_client_, account_a, account_b):
    make_rule(account_a, "a1")
    make_rule(account_a, "a2", match_kind="exact", enabled=False)
    make_rule(account_b, "b1")

    def names(**params):
        return sorted(r.name for r in admin_client_.get(LIST, params).context["cl"].result_list)

    assert names(account__id__exact=account_a.pk) == ["a1", "a2"]
    assert names(match_kind__exact="exact") == ["a2"]
    assert names(enabled__exact="0") == ["a2"]


def test_priority_is_editable_in_the_list(admin_client_, account_a):
    rule = make_rule(account_a, "r")
    data = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000", "form-0-id": str(rule.pk), "form-0-priority": "7", "_save": "Save"}
    response = admin_client_.post(LIST, data)
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.priority == 7


def test_bulk_enable_disable_notifies_the_engine(admin_client_, account_a, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    from wechat_app.services.rules import version_key

    r1, r2 = make_rule(account_a, "r1"), make_rule(account_a, "r2")
    stamp = cache.get(version_key(account_a.pk))
    revision = type(account_a).objects.get(pk=account_a.pk).rules_revision
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_.post(LIST, {"action": "disable_rules", "_selected_action": [r1.pk, r2.pk]})
    assert list(Rule.objects.values_list("enabled", flat=True)) == [False, False]
    # QuerySet.update() sends no post_save: the action itself must mark the rules stale
    # (in the database, and in the cache once committed).
    assert type(account_a).objects.get(pk=account_a.pk).rules_revision > revision
    assert cache.get(version_key(account_a.pk)) != stamp
    admin_client_.post(LIST, {"action": "enable_rules", "_selected_action": [r1.pk]})
    r1.refresh_from_db(), r2.refresh_from_db()
    assert r1.enabled and not r2.enabled
