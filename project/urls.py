from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# The demo project names its admin; an installing project keeps its own.
admin.site.site_header = "WeChat console"
admin.site.site_title = "WeChat console"
admin.site.index_title = "Official accounts, replies and messages"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # The callback, the REST API and its schema and docs (/wechat/api/schema/, docs/, redoc/).
    path("wechat/", include("wechat_app.urls")),
]
