from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("wechat/", include("wechat_app.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
]
