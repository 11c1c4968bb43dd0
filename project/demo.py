"""The demo project's H5 pages (templates/demo/): what an installing project writes to use the
app's web side. "My profile" needs a WeChat login (OAuth, snsapi_userinfo) in one decorator;
"Share" configures the JS-SDK in one template tag."""
from django.contrib.auth import logout
from django.shortcuts import redirect, render

from wechat_app.auth import wechat_login_required
from wechat_app.models import Account

DEMO_ACCOUNT = "demo"  # created by manage.py wechat_demo (make run)


def index(request):
    return render(request, "demo/index.html", {"account": Account.objects.filter(name=DEMO_ACCOUNT).first()})


@wechat_login_required(account=DEMO_ACCOUNT, scope="snsapi_userinfo")
def profile(request):
    wechat_user = request.wechat_user
    return render(request, "demo/profile.html", {"wechat_user": wechat_user, "profile": wechat_user.profile})


def share(request):
    return render(request, "demo/share.html", {"account_name": DEMO_ACCOUNT})


def log_out(request):
    if request.method == "POST":
        logout(request)
    return redirect("demo:index")
