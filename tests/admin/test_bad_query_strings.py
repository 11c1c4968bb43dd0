"""Odd query strings in the admin get Django's usual answers (a ``?e=1`` redirect, 400), never a 500.

NUL bytes reach PostgreSQL as a 500 unless refused first, so the refusal is expected on every
database.
"""
import pytest

from .conftest import make_log, make_rule

pytestmark = pytest.mark.django_db

CHANGELISTS = ["rule", "messagelog", "account", "outboundmessage", "template", "campaign", "follower"]


@pytest.fixture
def data(account_a):
    rule = make_rule(account_a, "rule-alpha")
    make_log(account_a, user="user-alpha", rule=rule)
    return rule


@pytest.mark.parametrize("url", [
    "/admin/wechat_app/rule/?account__id__exact=abc",
    "/admin/wechat_app/rule/?account__id__exact=1%00",
    "/admin/wechat_app/rule/?account__id__exact=" + "9" * 40,
    "/admin/wechat_app/messagelog/?account__id__exact=abc",
    "/admin/wechat_app/messagelog/?rule__id__exact=abc",
    "/admin/wechat_app/messagelog/?rule__id__exact=%00",
    "/admin/wechat_app/messagelog/?account__id__exact=%C2%B2",  # a superscript two: a digit, not an id
] + [f"/admin/wechat_app/{name}/?q=%00" for name in CHANGELISTS])
def test_bad_changelist_lookups_redirect_to_the_error_flag(admin_client_, data, url):
    resp = admin_client_.get(url)
    assert resp.status_code == 302 and resp["Location"].endswith("?e=1"), (resp.status_code, resp.get("Location"))
    assert admin_client_.get(resp["Location"]).status_code == 200


def test_good_filter_values_still_filter(staff_client, data, account_a):
    html = staff_client.get(f"/admin/wechat_app/messagelog/?rule__id__exact={data.pk}"
                            f"&account__id__exact={account_a.pk}").content.decode()
    assert "user-alpha" in html
    html = staff_client.get(f"/admin/wechat_app/rule/?account__id__exact={account_a.pk + 1}").content.decode()
    assert "rule-alpha" not in html


def test_conversation_with_nul_user_is_a_bad_request(staff_client, data, account_a):
    url = f"/admin/wechat_app/messagelog/conversation/{account_a.pk}/"
    assert staff_client.get(url + "?user=%00").status_code == 400
    assert staff_client.get(url + "?user=user-alpha&page=%00").status_code == 400
    assert staff_client.get(url + "?user=user-alpha&page=abc").status_code == 200
    assert staff_client.get(url + "?user=user-alpha").status_code == 200


def test_export_with_an_unknown_format_is_a_bad_request(staff_client, data, account_a):
    assert staff_client.get(f"/admin/wechat_app/rule/export/{account_a.pk}/?format=xml").status_code == 400
    assert staff_client.get(f"/admin/wechat_app/rule/export/{account_a.pk}/?format=json").status_code == 200
