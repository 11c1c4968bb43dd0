from django.urls import include, path

from . import views
from .jssdk_views import jssdk_config_view

app_name = "wechat_app"

urlpatterns = [
    path("callback/<str:account_name>/", views.callback, name="callback"),
    path("api/", include("wechat_app.api.urls")),
    path("jssdk/<str:account_name>/", jssdk_config_view, name="jssdk_config"),
]
