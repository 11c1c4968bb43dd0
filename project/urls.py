from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import demo

# The demo project names its admin; an installing project keeps its own.
admin.site.site_header = "WeChat console"
admin.site.site_title = "WeChat console"
admin.site.index_title = "Official accounts, replies and messages"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # The callback, the REST API and its schema and docs (/wechat/api/schema/, docs/, redoc/).
    path("wechat/", include("wechat_app.urls")),
    # The demo H5 pages (templates/demo/): a WeChat login and a JS-SDK page.
    path("demo/", include(([
        path("", demo.index, name="index"),
        path("profile/", demo.profile, name="profile"),
        path("share/", demo.share, name="share"),
        path("logout/", demo.log_out, name="logout"),
    ], "demo"))),
]
