"""Rule editing through the admin: typed replies, validation next to the field, follow-ups."""
import pytest

from wechat_app.models import Rule

from .conftest import make_rule
from .helpers import ADD_URL, field_errors, reply_errors, rule_post

pytestmark = pytest.mark.django_db


def test_create_rule_with_random_typed_replies(admin_client_, account_a):
    replies = [
        {"type": "text", "content": "Hi {1}"},
        {"type": "news", "articles": [{"title": "First", "url": "http://x/1", "pic_url": "http://x/1.jpg"},
                                      {"title": "Second", "description": "two"}]},
        {"type": "music", "title": "Song", "music_url": "http://x/a.mp3", "thumb_media_id": "T1",
         "content": "ignored: not a music field"},
    ]
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=replies))
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = Rule.objects.get(name="greet")
    assert rule.replies == [
        {"type": "text", "content": "Hi {1}"},
        {"type": "news", "articles": [{"title": "First", "url": "http://x/1", "pic_url": "http://x/1.jpg"},
                                      {"title": "Second", "description": "two"}]},
        {"type": "music", "title": "Song", "music_url": "http://x/a.mp3", "thumb_media_id": "T1"},
    ]


def test_change_form_renders_stored_replies_for_editing(admin_client_, account_a):
    rule = make_rule(account_a, "news", replies=[{"type": "news", "articles": [{"title": "Read me"}]}])
    response = admin_client_.get(f"/admin/wechat_app/rule/{rule.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="replies-0-type"' in html and "Read me" in html
    assert "wx-reply-template" in html  # the "add another reply" template


def test_regex_that_does_not_compile_is_reported_on_the_match_value(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, match_kind="regex", match_value="^(unclosed"))
    assert response.status_code == 200
    assert any("invalid regular expression" in e for e in field_errors(response, "match_value"))
    assert not Rule.objects.exists()


def test_news_with_more_than_eight_articles_is_refused_next_to_the_articles(admin_client_, account_a):
    articles = [{"title": f"A{i}"} for i in range(9)]
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "news", "articles": articles}]))
    assert response.status_code == 200
    assert any("1 to 8 articles" in e for e in reply_errors(response, 0, "articles"))
    assert not Rule.objects.exists()


def test_eight_articles_are_accepted(admin_client_, account_a):
    articles = [{"title": f"A{i}"} for i in range(8)]
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "news", "articles": articles}]))
    assert response.status_code == 302
    assert [a["title"] for a in Rule.objects.get().replies[0]["articles"]] == [f"A{i}" for i in range(8)]


def test_text_longer_than_2048_bytes_is_refused_next_to_the_text(admin_client_, account_a):
    too_long = "好" * 683  # 2049 bytes in UTF-8
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "text", "content": too_long}]))
    assert response.status_code == 200
    assert any("2048 bytes" in e for e in reply_errors(response, 0, "content"))
    ok = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "text", "content": "好" * 682}]))
    assert ok.status_code == 302


def test_a_rule_without_any_reply_is_refused(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "text", "content": ""}]))
    assert response.status_code == 200
    assert any("at least one reply" in e for e in field_errors(response, "replies"))
    assert "at least one reply" in response.content.decode()
    assert not Rule.objects.exists()


def test_no_reply_rule_needs_no_reply_and_ignores_hidden_editors(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, no_reply=True,
                                                     replies=[{"type": "text", "content": "left over"}]))
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert rule.no_reply and rule.replies == []


def test_missing_media_id_is_reported_on_that_field(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "image", "media_id": ""},
                                                                         {"type": "text", "content": "x"}]))
    # A blank image reply is "blank" (ignored) only when nothing at all is filled in; with its type
    # changed and nothing else it is ignored, so the rule saves with the text reply.
    assert response.status_code == 302
    Rule.objects.all().delete()
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "video", "title": "Clip"}]))
    assert response.status_code == 200
    assert any("media_id" in e for e in reply_errors(response, 0, "media_id"))


def test_duplicate_name_in_the_same_account_is_reported_on_the_name(admin_client_, account_a, account_b):
    make_rule(account_a, "greet")
    response = admin_client_.post(ADD_URL, rule_post(account_a, name="greet"))
    assert response.status_code == 200
    assert any("already named" in e for e in field_errors(response, "name"))
    # The same name in another account is fine.
    assert admin_client_.post(ADD_URL, rule_post(account_b, name="greet")).status_code == 302


def test_event_key_and_flags_only_where_they_apply(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, match_kind="event", match_value="CLICK",
                                                     match_key="V1001"))
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert (rule.match_kind, rule.match_value, rule.match_key) == ("event", "CLICK", "V1001")
    bad_type = admin_client_.post(ADD_URL, rule_post(account_a, name="t", match_kind="type", match_value="sticker"))
    assert any("unknown message type" in e for e in field_errors(bad_type, "match_value"))
    bad_flag = admin_client_.post(ADD_URL, rule_post(account_a, name="r", match_kind="regex", match_value="a",
                                                     match_flags="q"))
    assert any("unknown regex flag" in e for e in field_errors(bad_flag, "match_flags"))


def test_rule_with_a_follow_up_through_the_inline(admin_client_, account_a):
    data = rule_post(account_a, name="game", match_kind="regex", match_value="^game$",
                     replies=[{"type": "text", "content": "Pick a number from 1 to 9"}],
                     follow_ups=[{"match_kind": "regex", "match_value": "^([1-9])$",
                                  "replies": [{"type": "text", "content": "You picked {1}"}]}],
                     follow_up_timeout="120", follow_up_retries="2")
    response = admin_client_.post(ADD_URL, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    parent = Rule.objects.get(name="game")
    child = parent.follow_ups.get()
    assert child.account_id == account_a.pk and child.name == "game.1"
    assert child.replies == [{"type": "text", "content": "You picked {1}"}]
    assert (parent.follow_up_timeout, parent.follow_up_retries) == (120, 2)


def test_follow_up_errors_are_shown_in_the_inline(admin_client_, account_a):
    make_rule(account_a, "taken")
    data = rule_post(account_a, name="game", follow_ups=[
        {"name": "taken", "match_kind": "regex", "match_value": "(", "replies": [{"type": "text", "content": ""}]}])
    response = admin_client_.post(ADD_URL, data)
    assert response.status_code == 200
    inline_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert "match_value" in inline_form.errors
    assert "replies" in inline_form.errors  # empty reply
    assert not Rule.objects.filter(name="game").exists()
    # duplicate name among the account's rules
    data = rule_post(account_a, name="game", follow_ups=[{"name": "taken", "match_value": "x"}])
    response = admin_client_.post(ADD_URL, data)
    inline_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert any("already named" in str(e) for e in inline_form.errors.get("name", []))


def test_removing_a_reply(admin_client_, account_a):
    rule = make_rule(account_a, "two", replies=[{"type": "text", "content": "one"}, {"type": "text", "content": "two"}])
    data = rule_post(account_a, name="two", replies=[{"type": "text", "content": "one"},
                                                     {"type": "text", "content": "two", "DELETE": "on"}])
    data["replies-INITIAL_FORMS"] = "2"
    response = admin_client_.post(f"/admin/wechat_app/rule/{rule.pk}/change/", data)
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.replies == [{"type": "text", "content": "one"}]


# ---- each problem reported once, where it is --------------------------------------------------------
def all_errors(response):
    """Every error message on the rule form: fields, replies and the reply editors."""
    form = response.context["adminform"].form
    messages = [str(e) for errors in form.errors.values() for e in errors]
    for reply_form in form.reply_formset.forms:
        messages += [str(e) for errors in reply_form.errors.values() for e in errors]
    messages += [str(e) for e in form.reply_formset.non_form_errors()]
    return messages


def test_a_bad_regex_is_reported_once_and_not_as_a_missing_value(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, match_kind="regex", match_value="(("))
    errors = all_errors(response)
    assert len(errors) == 1 and "invalid regular expression" in errors[0], errors
    html = response.content.decode()
    assert "needs a match value" not in html and html.count("invalid regular expression") == 1


def test_a_too_long_text_is_reported_next_to_the_text_only(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "text", "content": "好" * 683}]))
    errors = all_errors(response)
    assert "at least one reply" not in response.content.decode()
    assert [e for e in errors if "2048 bytes" in e] and len(errors) == 2, errors  # + "correct the replies below"


def test_an_empty_reply_is_reported_once(admin_client_, account_a):
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=[{"type": "text", "content": ""}]))
    errors = all_errors(response)
    assert len(errors) == 1 and "at least one reply" in errors[0], errors
    assert response.content.decode().count("at least one reply") == 1


def test_the_only_account_is_preselected(client, staff_a, superuser, account_a, account_b):
    client.force_login(staff_a)  # sees account alpha only
    form = client.get(ADD_URL).context["adminform"].form
    assert form["account"].value() == account_a.pk
    client.force_login(superuser)  # sees both: nothing is chosen for them
    form = client.get(ADD_URL).context["adminform"].form
    assert form["account"].value() is None
    # an account given in the URL (the dashboard's "+ rule" link) wins
    form = client.get(ADD_URL, {"account": account_b.pk}).context["adminform"].form
    assert str(form["account"].value()) == str(account_b.pk)


def test_follow_up_names_follow_the_importers_scheme(admin_client_, account_a):
    from wechat_app.services.rules import import_rules

    make_rule(account_a, "game.2")  # taken: the next free number is used
    data = rule_post(account_a, name="game", match_kind="regex", match_value="^game$", follow_ups=[
        {"match_kind": "regex", "match_value": "^1$"}, {"match_kind": "regex", "match_value": "^2$"},
        {"name": "game.3", "match_kind": "regex", "match_value": "^3$"}])
    response = admin_client_.post(ADD_URL, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    names = sorted(Rule.objects.get(name="game").follow_ups.values_list("name", flat=True))
    assert names == ["game.1", "game.3", "game.4"]
    # the importer names unnamed follow-ups the same way: <parent>.<n>
    import_rules(account_a, "- name: quiz\n  match: {exact: quiz}\n  reply: Ready?\n"
                            "  follow_ups: [{match: {exact: 'yes'}, reply: Go}]\n")
    assert list(Rule.objects.get(name="quiz").follow_ups.values_list("name", flat=True)) == ["quiz.1"]


def test_music_without_thumb_media_id_saves_with_a_warning(admin_client_, account_a):
    replies = [{"type": "music", "title": "Song", "music_url": "http://x/a.mp3"}]
    response = admin_client_.post(ADD_URL, rule_post(account_a, replies=replies), follow=True)
    assert response.status_code == 200
    assert Rule.objects.get(name="greet").replies == [{"type": "music", "title": "Song", "music_url": "http://x/a.mp3"}]
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1 and "greet: music reply has no thumb_media_id" in warnings[0]
