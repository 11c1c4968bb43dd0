"""Account screens: write-only masked secrets, callback settings to copy, the check action."""
import pytest

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

from wechat_app.models import Account

from .conftest import AES_KEY

pytestmark = pytest.mark.django_db


def _post(account, **changes):
    data = {"name": account.name, "app_id": account.app_id, "app_secret": "", "token": "", "encoding_aes_key": "",
            "encrypt_mode": account.encrypt_mode, "api_base_url": "", "enabled": "on",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0", "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            # The agent gateway's settings (an inline of at most one form).
            "agent_settings-TOTAL_FORMS": "0", "agent_settings-INITIAL_FORMS": "0",
            "agent_settings-MIN_NUM_FORMS": "0", "agent_settings-MAX_NUM_FORMS": "1"}
    data.update(changes)
    return data


def test_secrets_never_appear_in_pages(admin_client_, account_a):
    secrets = [account_a.app_secret, account_a.token, account_a.encoding_aes_key]
    for url in ("/admin/wechat_app/account/", f"/admin/wechat_app/account/{account_a.pk}/change/",
                f"/admin/wechat_app/account/{account_a.pk}/check/"):
        html = admin_client_.get(url).content.decode()
        for secret in secrets:
            assert secret not in html, url
    change = admin_client_.get(f"/admin/wechat_app/account/{account_a.pk}/change/").content.decode()
    assert "••••••••" in change  # the mask says a value is set
    assert "/wechat/callback/alpha/" in change and "安全模式" in change


def test_empty_secret_keeps_the_stored_value_and_a_new_one_replaces_it(admin_client_, account_a):
    url = f"/admin/wechat_app/account/{account_a.pk}/change/"
    assert admin_client_.post(url, _post(account_a)).status_code == 302
    account_a.refresh_from_db()
    assert account_a.app_secret == "secret-alpha-0123456789abcdef" and account_a.token == "tokalpha123"
    assert admin_client_.post(url, _post(account_a, app_secret="new-secret-value", token="newtoken9")).status_code == 302
    account_a.refresh_from_db()
    assert (account_a.app_secret, account_a.token, account_a.encoding_aes_key) == (
        "new-secret-value", "newtoken9", AES_KEY)


def test_bad_values_are_refused_next_to_the_field(admin_client_, account_a):
    url = f"/admin/wechat_app/account/{account_a.pk}/change/"
    response = admin_client_.post(url, _post(account_a, encoding_aes_key="short", token="bad token!"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "encoding_aes_key" in errors and "token" in errors
    account_a.refresh_from_db()
    assert account_a.token == "tokalpha123"


def test_new_account_requires_secrets(admin_client_):
    response = admin_client_.post("/admin/wechat_app/account/add/", _post(
        Account(name="gamma", app_id="wxgamma01", encrypt_mode="plain")))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "app_secret" in errors and "token" in errors
    response = admin_client_.post("/admin/wechat_app/account/add/", _post(
        Account(name="gamma", app_id="wxgamma01", encrypt_mode="plain"), app_secret="s3cret", token="tok123"))
    assert response.status_code == 302
    assert Account.objects.get(name="gamma").token == "tok123"


def test_staff_creating_an_account_becomes_its_member(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("creator", password="pw-creator-1", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["add_account", "view_account",
                                                                      "change_account", "view_rule"]))
    client.force_login(user)
    response = client.post("/admin/wechat_app/account/add/", _post(
        Account(name="mine", app_id="wxmine001", encrypt_mode="plain"), app_secret="s3cret", token="tok123"))
    assert response.status_code == 302
    listed = client.get("/admin/wechat_app/account/").context["cl"].result_list
    assert [a.name for a in listed] == ["mine"]


def test_copy_endpoint_gives_a_secret_only_by_post_to_changers(admin_client_, staff_client, account_a):
    url = f"/admin/wechat_app/account/{account_a.pk}/secret/token/"
    response = staff_client.post(url)
    assert response.status_code == 200 and response.json() == {"value": "tokalpha123"}
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    assert staff_client.get(url).status_code == 405
    assert staff_client.post(f"/admin/wechat_app/account/{account_a.pk}/secret/app_secret/").status_code == 403


def test_check_view_reports_each_item(admin_client_, account_a, sandbox):
    sandbox.state.add_app(account_a.app_id, account_a.app_secret)
    Account.objects.filter(pk=account_a.pk).update(api_base_url=sandbox.url)
    response = admin_client_.get(f"/admin/wechat_app/account/{account_a.pk}/check/")
    results = {str(r.label): r for r in response.context["results"]}
    assert results["EncodingAESKey well-formed"].ok
    assert results["Token well-formed"].ok
    assert results["API reachable (access token)"].ok
    assert response.context["all_ok"]


def test_check_reports_a_wrong_secret(admin_client_, account_a, sandbox):
    sandbox.state.add_app(account_a.app_id, "another-secret-value")
    Account.objects.filter(pk=account_a.pk).update(api_base_url=sandbox.url)
    response = admin_client_.get(f"/admin/wechat_app/account/{account_a.pk}/check/")
    api = {str(r.label): r for r in response.context["results"]}["API reachable (access token)"]
    assert not api.ok
    assert "40125" in api.detail or "40001" in api.detail, api.detail
    assert account_a.app_secret not in response.content.decode()


def test_check_finds_a_broken_aes_key(admin_client_, account_a):
    Account.objects.filter(pk=account_a.pk).update(encoding_aes_key="!" * 43)
    response = admin_client_.get(f"/admin/wechat_app/account/{account_a.pk}/check/")
    assert not response.context["all_ok"]
    assert "✖" in response.content.decode()


def test_check_action_from_the_list(admin_client_, account_a, account_b, sandbox):
    sandbox.state.add_app(account_a.app_id, account_a.app_secret)
    Account.objects.filter(pk=account_a.pk).update(api_base_url=sandbox.url)
    Account.objects.filter(pk=account_b.pk).update(encrypt_mode="safe", encoding_aes_key="")
    response = admin_client_.post("/admin/wechat_app/account/", {
        "action": "check_accounts", "_selected_action": [account_a.pk, account_b.pk]}, follow=True)
    text = " ".join(str(m) for m in response.context["messages"])
    assert "alpha: configuration OK" in text and "beta:" in text and "needs an EncodingAESKey" in text


def test_account_list_has_no_query_per_row(admin_client_, django_assert_max_num_queries):
    from .conftest import make_account, make_rule

    for i in range(15):
        make_rule(make_account(f"acc{i}"), "r")
    admin_client_.get("/admin/wechat_app/account/")
    with django_assert_max_num_queries(8):
        admin_client_.get("/admin/wechat_app/account/")


def test_error_replies_are_edited_and_validated(admin_client_, account_a):
    """Issue 12 item 6: the "no rule matched" and "a rule failed" texts, validated like replies."""
    url = f"/admin/wechat_app/account/{account_a.pk}/change/"
    assert 'name="no_match_reply"' in admin_client_.get(url).content.decode()
    response = admin_client_.post(url, _post(account_a, no_match_reply="bad\x01text", error_reply="x" * 601))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "U+0001" in str(errors["no_match_reply"]) and "error_reply" in errors
    account_a.refresh_from_db()
    assert account_a.no_match_reply == "" and account_a.error_reply == ""
    response = admin_client_.post(url, _post(account_a, no_match_reply="Sorry?", error_reply="Oops"))
    assert response.status_code == 302
    account_a.refresh_from_db()
    assert (account_a.no_match_reply, account_a.error_reply) == ("Sorry?", "Oops")
