from django.urls import path

from . import views

app_name = "wechat_app"

urlpatterns = [
    path("callback/<str:account_name>/", views.callback, name="callback"),
]
