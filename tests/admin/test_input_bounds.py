"""The admin reports what the model refuses (issue 7 items 4, 5, 6, 14): a form error, nothing
written, never a 500; stored links that are not http(s) are never rendered as links."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from tests.engine.test_file_limits import ALIAS_BOMB
from wechat_app.models import Rule

from .conftest import make_rule
from .helpers import ADD_URL, field_errors, reply_errors, rule_post

pytestmark = pytest.mark.django_db
IMPORT_URL = "/admin/wechat_app/rule/import/"


def test_a_regex_re2_cannot_run_is_reported_on_the_match_value(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, match_kind="regex", match_value=r"^(\w)\1$"))
    assert response.status_code == 200
    assert any("back-references" in e and "refused" in e for e in field_errors(response, "match_value"))
    assert not Rule.objects.exists()


def test_a_javascript_link_is_reported_on_the_reply(admin_client_, account_a):
    replies = [{"type": "news", "articles": [{"title": "Click", "url": "javascript:alert(document.cookie)"}]}]
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=replies))
    assert response.status_code == 200
    errors = reply_errors(response, 0) + reply_errors(response, 0, "articles")
    errors += [str(e) for e in response.context["adminform"].form.non_field_errors()]
    assert any("http:// or https://" in e for e in errors), errors
    assert not Rule.objects.exists()


def test_an_inline_follow_up_beyond_the_depth_limit_is_a_form_error(admin_client_, account_a):
    parent = make_rule(account_a, "level1", value="k1")
    with override_settings(WECHAT_APP={"RULE_MAX_DEPTH": 2}):
        child = make_rule(account_a, "level2", value="k2", parent=parent)
        data = rule_post(account_a, name="level2", match_value="k2",
                         follow_ups=[{"name": "level3", "match_value": "k3"}])
        response = admin_client_.post(f"/admin/wechat_app/rule/{child.pk}/change/", data)
    assert response.status_code == 200
    inline_errors = [str(e) for formset in response.context["inline_admin_formsets"]
                     for form in formset.formset.forms for e in form.non_field_errors()]
    assert any("at most 2 levels" in e for e in inline_errors), inline_errors
    assert not Rule.objects.filter(name="level3").exists()


@pytest.mark.parametrize("text,message", [
    (ALIAS_BOMB, "aliases"),
    ("- {name: look, match: {regex: 'a(?!b)'}, reply: x}", "look-ahead"),
])
def test_import_reports_refused_files(staff_client, account_a, text, message):
    response = staff_client.post(IMPORT_URL, {"account": account_a.pk, "text": text})
    assert response.status_code == 200 and response.context["preview"] is None
    assert message in " ".join(str(e) for e in response.context["form"].errors.get("text", []))
    assert not Rule.objects.exists()


def test_the_upload_limit_is_the_setting(staff_client, account_a):
    upload = SimpleUploadedFile("r.yaml", b"- {name: a, match: {contains: a}, reply: b}\n" * 10)
    with override_settings(WECHAT_APP={"RULE_FILE_MAX_SIZE": 100}):
        response = staff_client.post(IMPORT_URL, {"account": account_a.pk, "file": upload})
    assert "larger than 100 bytes" in " ".join(response.context["form"].errors["file"])


def test_a_legacy_javascript_link_is_not_rendered_as_a_link(staff_client, account_a):
    # Saved before links were validated (written around validation).
    make_rule(account_a, "old", value="old", replies=[{"type": "news", "articles": [
        {"title": "Bad", "url": "javascript:alert(1)", "pic_url": "javascript:alert(2)"},
        {"title": "Good", "url": "https://example.com/good"}]}])
    response = staff_client.post("/admin/wechat_app/rule/simulator/",
                                 {"account": account_a.pk, "user": "o_t", "kind": "text", "text": "old",
                                  "action": "send"}, HTTP_ACCEPT="application/json")
    html = response.json()["html"]
    assert "Bad" in html and "javascript:" not in html
    assert 'href="https://example.com/good"' in html
