"""WeCom login for pages: the same OAuth views and decorator as Official Accounts. The authorize
URL carries the corp id and the agentid; the sandbox's page picks a member; the callback maps the
code (/cgi-bin/auth/getuserinfo) to the member and logs a Django user in."""
import html
import re
from urllib.parse import parse_qs, urldefrag, urlsplit

import pytest
import requests
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse

from wechat_app.auth import wechat_login_required
from wechat_app.models import WeChatUser, WeComMember
from wechat_app.sandbox.wecom_login import issue_code
from wechat_app.services import wecom_contacts as service

from .conftest import AGENT_ID, CORP_ID

pytestmark = pytest.mark.django_db


def start(client, next_url="/demo/profile/"):
    response = client.get("/wechat/oauth/hr/login/", {"next": next_url})
    assert response.status_code == 302, response.content
    return response["Location"]


def pick(location, userid):
    """Play the member on the sandbox's login page; return where WeCom sends the browser back."""
    url, fragment = urldefrag(location)
    assert fragment == "wechat_redirect"
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    links = [html.unescape(h) for h in re.findall(r"href='([^']+)'", page.text) if f"userid={userid}" in h]
    base = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    answer = requests.get(base + links[0], allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def test_login_maps_the_code_to_a_member(client, sandbox, book, wecom_account):
    location = start(client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(sandbox.url + "/connect/oauth2/authorize?")
    assert (query["appid"], query["agentid"], query["scope"]) == (CORP_ID, str(AGENT_ID), "snsapi_base")
    with book.lock:
        book.users["zhangsan"].update(name="Zhang San", position="engineer")
    response = client.get(pick(location, "zhangsan"))
    assert response.status_code == 302 and response["Location"] == "/demo/profile/"
    wechat_user = WeChatUser.objects.get(account=wecom_account, openid="zhangsan")
    assert wechat_user.profile["name"] == "Zhang San" and wechat_user.profile["position"] == "engineer"
    assert wechat_user.user.username == "wx_hr_zhangsan"
    assert client.session["_auth_user_id"] == str(wechat_user.user.pk)
    # Not mirrored before: read from WeCom (user/get) and mirrored.
    assert WeComMember.objects.filter(account=wecom_account, userid="zhangsan").exists()


def test_the_decorator(client, rf, book, wecom_account):
    @wechat_login_required(account="hr")
    def page(request):
        return HttpResponse(request.wechat_user.profile["userid"])

    request = rf.get("/demo/profile/")
    request.user = AnonymousUser()
    assert page(request)["Location"] == "/wechat/oauth/hr/login/?next=%2Fdemo%2Fprofile%2F&scope=snsapi_base"
    client.get(pick(start(client), "lisi"))
    request.user = WeChatUser.objects.get(openid="lisi").user
    response = page(request)
    assert response.status_code == 200 and response.content == b"lisi"


def test_someone_outside_the_corp_is_not_logged_in(client, book, wecom_account):
    response = client.get(pick(start(client), "__external__"))
    assert response.status_code == 403 and b"Only members" in response.content
    assert "_auth_user_id" not in client.session and not WeChatUser.objects.exists()


def test_a_used_code_is_refused(client, sandbox, book, wecom_account):
    back = pick(start(client), "zhangsan")
    assert client.get(back).status_code == 302
    location = start(client)
    state = parse_qs(urlsplit(location).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    response = client.get("/wechat/oauth/hr/callback/", {"code": code, "state": state})
    assert response.status_code == 400 and b"40029" in response.content


def test_a_member_wecom_no_longer_knows(client, sandbox, book, wecom_account):
    location = start(client)
    state = parse_qs(urlsplit(location).query)["state"][0]
    code = issue_code(sandbox.state, CORP_ID, "ghost")  # a code for someone WeCom has since deleted
    response = client.get("/wechat/oauth/hr/callback/", {"code": code, "state": state})
    assert response.status_code == 403 and not WeChatUser.objects.exists()


def test_wecom_down(client, sandbox, book, wecom_account):
    service.sync_contacts(wecom_account)
    back = pick(start(client), "zhangsan")
    sandbox.state.add_fault("/cgi-bin/auth/getuserinfo", "http", status=502, count=1)
    response = client.get(back)
    assert response.status_code == 502 and b"could not be reached" in response.content
