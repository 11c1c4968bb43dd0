"""Fixtures of the menu tests (validator, services, sandbox, CLI, admin, REST API).

``account`` is an account whose API base URL is a fresh sandbox, with 3 followers there; tasks
run in-process (CI's second pass configures a Redis broker, where a published version would
otherwise wait for a worker).
"""
import pytest

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

APP_ID, APP_SECRET = "wxmenus000001", "menus-app-secret"

SIMPLE_MENU = {"button": [
    {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
    {"name": "菜单", "sub_button": [
        {"type": "view", "name": "搜索", "url": "http://www.soso.com/"},
        {"type": "miniprogram", "name": "wxa", "url": "http://mp.weixin.qq.com", "appid": "wx286b93c14bbf93aa",
         "pagepath": "pages/lunar/index"},
        {"type": "click", "name": "赞一下我们", "key": "V1001_GOOD"},
    ]},
]}


@pytest.fixture(autouse=True)
def _eager_celery(request):
    from project.celery import app

    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def account(db, sandbox):
    from wechat_app.models import Account

    sandbox.state.add_app(APP_ID, APP_SECRET)
    sandbox.state.add_followers(APP_ID, count=3)
    return Account.objects.create(name="menus", app_id=APP_ID, app_secret=APP_SECRET, token="tok123",
                                  api_base_url=sandbox.url)


@pytest.fixture
def followers(sandbox, account):
    return list(sandbox.state.followers[APP_ID])


@pytest.fixture
def default_menu(account):
    from wechat_app.models import Menu

    return Menu.objects.create(account=account, kind=Menu.Kind.DEFAULT, name="Default menu",
                               buttons=SIMPLE_MENU["button"])
