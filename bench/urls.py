from django.urls import include, path

from .bare_view import bare_callback

urlpatterns = [
    path("wechat/", include("wechat_app.urls")),
    path("bare/<str:account_name>/", bare_callback),
]
