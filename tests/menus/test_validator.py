"""client.menus.validate_menu, rule by rule (WeChat's limits in UTF-8 bytes), and the model's clean()."""
import pytest

from wechat_app.client.menus import (
    BUTTON_TYPES,
    REQUIRED_FIELDS,
    MenuProblem,
    MenuSpecError,
    clean_pulled,
    locate_error,
    validate_menu,
)

from .conftest import SIMPLE_MENU

VALUES = {"key": "K1", "url": "https://example.com/a", "appid": "wx286b93c14bbf93aa", "pagepath": "pages/index",
          "media_id": "MEDIA_ID1", "article_id": "ARTICLE_ID1"}


def problems(document, **kwargs):
    with pytest.raises(MenuSpecError) as caught:
        validate_menu(document, **kwargs)
    return [p.label() for p in caught.value.problems]


def one(button):
    return {"button": [button]}


def test_a_full_menu_is_valid_and_unchanged():
    assert validate_menu(SIMPLE_MENU) == SIMPLE_MENU


@pytest.mark.parametrize("kind", BUTTON_TYPES)
def test_every_type_with_its_required_fields(kind):
    button = {"type": kind, "name": "B", **{f: VALUES[f] for f in REQUIRED_FIELDS[kind]}}
    assert validate_menu(one(button)) == one(button)


@pytest.mark.parametrize("kind", BUTTON_TYPES)
def test_every_type_names_each_missing_field(kind):
    labels = problems(one({"type": kind, "name": "B"}))
    assert labels == [f"button 1: {field} is required" for field in REQUIRED_FIELDS[kind]]


def test_fields_of_another_type_are_refused():
    assert problems(one({"type": "click", "name": "B", "key": "K", "url": "https://x.com"})) == [
        "button 1: url is not used by a click button"]


@pytest.mark.parametrize("name, ok", [
    ("a" * 16, True), ("a" * 17, False),
    ("今日歌曲推荐", False),   # 6 characters, 18 bytes
    ("今日歌曲", True),        # 12 bytes
    ("🎵🎵🎵🎵", True),        # 16 bytes
    ("🎵🎵🎵🎵a", False),      # 17 bytes
])
def test_top_level_names_are_counted_in_utf8_bytes(name, ok):
    doc = one({"type": "click", "name": name, "key": "K"})
    if ok:
        validate_menu(doc)
    else:
        size = len(name.encode())
        assert problems(doc) == [f"button 1: name is {size} bytes, the limit is 16"]


def test_sub_button_name_limit_is_60_bytes_and_the_label_names_the_path():
    subs = [{"type": "click", "name": f"s{i}", "key": f"K{i}"} for i in range(4)]
    subs[3]["name"] = "字" * 6 + "a"  # 19 bytes: fine for a sub-button
    validate_menu({"button": [{"type": "click", "name": "x", "key": "X"}, {"name": "p", "sub_button": subs}]})
    subs[3]["name"] = "字" * 20 + "a"  # 61 bytes
    labels = problems({"button": [{"type": "click", "name": "x", "key": "X"}, {"name": "p", "sub_button": subs}]})
    assert labels == ["button 2 › sub-button 4: name is 61 bytes, the limit is 60"]


def test_the_label_of_the_issue():
    assert MenuProblem((1, 3), "name", "name is 19 bytes, the limit is 16").label() == \
        "button 2 › sub-button 4: name is 19 bytes, the limit is 16"


def test_key_and_url_limits():
    assert problems(one({"type": "click", "name": "B", "key": "键" * 43})) == [
        "button 1: key is 129 bytes, the limit is 128"]
    validate_menu(one({"type": "click", "name": "B", "key": "k" * 128}))
    url = "https://example.com/" + "a" * 1005
    assert problems(one({"type": "view", "name": "B", "url": url})) == [
        "button 1: url is 1025 bytes, the limit is 1024"]
    assert problems(one({"type": "view", "name": "B", "url": "ftp://example.com"})) == [
        "button 1: url must be an http:// or https:// address"]


def test_button_counts():
    click = {"type": "click", "name": "B", "key": "K"}
    assert problems({"button": []}) == ["menu: a menu has 1 to 3 buttons, not 0"]
    four = [dict(click, key=f"K{i}") for i in range(4)]
    assert problems({"button": four}) == ["menu: a menu has 1 to 3 buttons, not 4"]
    six = [dict(click, key=f"K{i}") for i in range(6)]
    assert problems(one({"name": "P", "sub_button": six})) == ["button 1: 6 sub-buttons, the limit is 5"]
    validate_menu(one({"name": "P", "sub_button": six[:5]}))


def test_a_button_with_sub_buttons_has_no_action():
    labels = problems(one({"name": "P", "type": "click", "key": "K",
                           "sub_button": [{"type": "click", "name": "s", "key": "S"}]}))
    assert labels == ["button 1: a button with sub-buttons has no action of its own (remove type, key)"]


def test_sub_buttons_do_not_nest_and_a_leaf_needs_a_type():
    labels = problems(one({"name": "P", "sub_button": [
        {"name": "s", "sub_button": [{"type": "click", "name": "t", "key": "T"}]}]}))
    assert labels == ["button 1 › sub-button 1: a sub-button cannot have sub-buttons of its own",
                      "button 1 › sub-button 1: type is required"]
    assert problems(one({"name": "P"})) == ["button 1: type is required (or sub-buttons)"]
    assert problems(one({"name": "P", "type": "bogus"}))[0].startswith("button 1: unknown type 'bogus'")


def test_keys_are_unique_within_a_menu():
    labels = problems({"button": [{"type": "click", "name": "a", "key": "K"},
                                  {"name": "p", "sub_button": [{"type": "scancode_push", "name": "s", "key": "K"}]}]})
    assert labels == ["button 2 › sub-button 1: key 'K' is already used by button 1; keys are unique within a menu"]


def test_every_problem_is_reported_at_once_and_unknown_fields_are_refused():
    labels = problems({"button": [{"type": "click", "name": "", "key": "K", "colour": "red"},
                                  {"type": "view", "name": "v"}], "extra": 1})
    assert labels == ["menu: unknown field(s): extra", "button 1: unknown field(s): colour",
                      "button 1: name is required", "button 2: url is required"]


def test_strings_are_stripped_and_empty_sub_button_lists_dropped():
    assert validate_menu(one({"type": "click", "name": " B ", "key": " K ", "sub_button": []})) == \
        one({"type": "click", "name": "B", "key": "K"})


def test_conditional_menus_need_a_match_field():
    button = [{"type": "click", "name": "B", "key": "K"}]
    assert problems({"button": button, "matchrule": {}}, conditional=True) == [
        "match rule: a conditional menu needs at least one match field "
        "(tag_id, sex, country, province, city, client_platform_type, language)"]
    assert validate_menu({"button": button, "matchrule": {"tag_id": 2, "sex": "", "language": "zh_CN"}},
                         conditional=True) == {"button": button, "matchrule": {"tag_id": "2", "language": "zh_CN"}}
    assert problems({"button": button, "matchrule": {"city": "广州", "sex": "3", "age": 3}}, conditional=True) == [
        "match rule: unknown match field(s): age; one of: tag_id, sex, country, province, city, "
        "client_platform_type, language",
        "match rule: sex is 1 (male) or 2 (female)",
        "match rule: a province or city needs the country too",
        "match rule: a city needs the province too"]
    assert problems({"button": button, "matchrule": {"sex": "1"}}) == [
        "match rule: unknown field(s): matchrule (only a conditional menu has a match rule)"]


def test_not_a_menu():
    assert problems([]) == ['menu: a menu is a JSON object with a "button" list']
    assert problems({"button": "x"}) == ['menu: "button" must be a list of 1 to 3 buttons']
    assert problems(one("x")) == ["button 1: a button must be an object with a name and a type"]


def test_pulled_answers_are_cleaned():
    answer = {"button": [{"type": "click", "name": "a", "key": "K", "sub_button": []},
                         {"name": "p", "sub_button": [{"type": "view", "name": "v", "url": "http://x.com",
                                                       "sub_button": []}]}],
              "menuid": 1}
    assert clean_pulled(answer) == {"button": [{"type": "click", "name": "a", "key": "K"},
                                               {"name": "p", "sub_button": [{"type": "view", "name": "v",
                                                                             "url": "http://x.com"}]}]}


def test_locate_error_finds_the_button_wechat_means():
    assert locate_error(SIMPLE_MENU, 40054) == ((1, 0), "url")
    long_name = {"button": [{"type": "click", "name": "ok", "key": "A"},
                            {"type": "click", "name": "x" * 20, "key": "B"}]}
    assert locate_error(long_name, 40018) == ((1,), "name")
    assert locate_error(SIMPLE_MENU, 65304) == ((), "matchrule")
    assert locate_error(SIMPLE_MENU, -1) is None


@pytest.mark.django_db
def test_model_clean_names_the_buttons(account):
    from django.core.exceptions import ValidationError

    from wechat_app.models import Menu

    menu = Menu(account=account, name="m", buttons=[{"type": "click", "name": "a" * 17, "key": "K"}])
    with pytest.raises(ValidationError) as caught:
        menu.full_clean()
    assert caught.value.message_dict == {"buttons": ["button 1: name is 17 bytes, the limit is 16"]}
    conditional = Menu(account=account, name="c", kind="conditional", buttons=SIMPLE_MENU["button"])
    with pytest.raises(ValidationError) as caught:
        conditional.full_clean()
    assert list(caught.value.message_dict) == ["matchrule"]
    Menu.objects.create(account=account, name="d", buttons=SIMPLE_MENU["button"])
    second = Menu(account=account, name="e", buttons=SIMPLE_MENU["button"])
    with pytest.raises(ValidationError, match="already has a default menu"):
        second.full_clean()


def test_control_characters_and_lone_surrogates_are_refused():
    # NUL cannot be stored in PostgreSQL's JSON; a lone surrogate has no UTF-8 bytes to count.
    assert problems(one({"type": "click", "name": "a\x00b", "key": "K"})) == [
        "button 1: name contains a control character"]
    assert problems(one({"type": "click", "name": "ok", "key": "K\ud800"})) == [
        "button 1: key contains a control character"]
    assert problems({"button": [{"type": "click", "name": "B", "key": "K"}], "matchrule": {"city": "x\x00"}},
                    conditional=True)[0] == "match rule: city contains a control character"


def test_non_text_values_are_refused():
    assert problems(one({"type": "click", "name": 12, "key": ["K"]})) == [
        "button 1: name must be text", "button 1: key must be text"]
    assert problems({"button": [{"type": "click", "name": "B", "key": "K"}], "matchrule": "sex=1"},
                    conditional=True) == ["match rule: the match rule must be an object"]


@pytest.mark.django_db
def test_a_form_without_the_match_rule_shows_its_error_for_the_whole_menu(account):
    from django import forms

    from wechat_app.models import Menu

    class NameAndButtons(forms.ModelForm):
        class Meta:
            model = Menu
            fields = ["name", "buttons"]

    menu = Menu(account=account, kind=Menu.Kind.CONDITIONAL)
    form = NameAndButtons(data={"name": "m", "buttons": '[{"type": "click", "name": "B", "key": "K"}]'},
                          instance=menu)
    assert not form.is_valid()
    assert form.errors["__all__"][0].startswith("match rule: a conditional menu needs at least one match field")
    form = NameAndButtons(data={"name": "m", "buttons": '[{"type": "click", "name": "B"}]'}, instance=menu)
    assert not form.is_valid() and form.errors["buttons"] == ["button 1: key is required"]
