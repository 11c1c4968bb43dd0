"""Secrets (app secret, token, EncodingAESKey, access tokens) never appear in logs, command
output, API responses, admin pages or reprs, through a realistic session."""
import io
import logging
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from wechat_app.client import WeChatAPIError
from wechat_app.models import Account
from wechat_app.protocol.simulator import build_message, sign_request
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)
from wechat_app.services import tokens
from wechat_app.services.rules import import_rules

SECRET, TOKEN, AES_KEY = "Sup3rSecretAppValue", "Tok3nNobodySees", "QWERTYqwerty0123456789abcdefghijklmnopABCDE"

pytestmark = pytest.mark.django_db


def test_no_secret_leaks_anywhere(sandbox, caplog, settings):
    settings.DEBUG = True  # the most talkative configuration
    caplog.set_level(logging.DEBUG)
    sandbox.state.add_app("wxleak000000000001", SECRET)
    account = Account.objects.create(name="leaky", app_id="wxleak000000000001", app_secret=SECRET, token=TOKEN,
                                     encoding_aes_key=AES_KEY, encrypt_mode="safe", api_base_url=sandbox.url)
    import_rules(account, "- name: any\n  match: {default: true}\n  reply: hi\n")
    seen = []

    # The callback: a valid encrypted message, a forged one, a plaintext one (refused in safe mode).
    xml = build_message("text", ["hello"], user="oLeak0000001", sp="gh_leak")
    params, body = sign_request(xml, TOKEN, crypto=account.crypto)
    url = f"/wechat/callback/leaky/?{urlencode(params)}"
    seen.append(Client().post(url, data=body, content_type="text/xml").content.decode())
    forged = dict(params, msg_signature="0" * 40)
    seen.append(Client().post(f"/wechat/callback/leaky/?{urlencode(forged)}", data=body,
                              content_type="text/xml").content.decode())
    plain_params, plain_body = sign_request(xml, TOKEN)
    seen.append(Client().post(f"/wechat/callback/leaky/?{urlencode(plain_params)}", data=plain_body,
                              content_type="text/xml").content.decode())

    # An access token from the (sandbox) API, then an API error caused by a wrong secret.
    access_token = tokens.get_access_token(account)
    sandbox.state.add_app("wxleak000000000001", "a-different-secret")
    Account.objects.filter(pk=account.pk).update(app_secret=SECRET + "x")
    account.refresh_from_db()
    with pytest.raises(WeChatAPIError) as failure:
        tokens.refresh_access_token(account, force=True)
    seen += [str(failure.value), repr(failure.value), repr(account), str(account), repr(account.crypto)]

    # Commands, the REST API and the admin.
    out = io.StringIO()
    call_command("wechat_account", "list", stdout=out)
    call_command("wechat_token", "show", "--account", "leaky", stdout=out, stderr=out)
    seen.append(out.getvalue())
    admin = get_user_model().objects.create_superuser("root", "r@example.com", "pw-123456789")
    client = Client()
    client.force_login(admin)
    for page in ("/wechat/api/accounts/", "/wechat/api/accounts/leaky/", "/wechat/api/messages/",
                 "/admin/wechat_app/account/", f"/admin/wechat_app/account/{account.pk}/change/",
                 "/admin/wechat_app/messagelog/"):
        response = client.get(page)
        assert response.status_code == 200, page
        seen.append(response.content.decode())

    everything = "\n".join(seen) + "\n" + caplog.text
    for secret in (SECRET, TOKEN, AES_KEY, access_token):
        assert secret not in everything, f"a secret leaked: {secret[:4]}…"
    # The session did what it claims: an encrypted answer, a logged forgery, a real token.
    assert "<Encrypt>" in seen[0] and seen[1].startswith("403") and seen[2].startswith("400")
    assert "Invalid WeChat callback signature" in caplog.text
    assert access_token
    assert "40125" in str(failure.value) or "40001" in str(failure.value), str(failure.value)
