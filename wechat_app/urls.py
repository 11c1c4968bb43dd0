from django.urls import include, path

from . import views

app_name = "wechat_app"

urlpatterns = [
    path("callback/<str:account_name>/", views.callback, name="callback"),
    path("api/", include("wechat_app.api.urls")),
]
