"""The app's REST API, its OpenAPI schema and docs pages (mounted at ``wechat/api/`` by
``wechat_app.urls``): everything an installing project gets from one ``include``."""
from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from .agent import AccountAgentViewSet, AgentEventViewSet, AgentViewSet
from .audience import KfAccountViewSet, MassMessageViewSet, TagViewSet
from .base import AppAPIRootView
from .docs import RedocView, SchemaView, SwaggerView
from .errors import not_found
from .ilink import ILinkBotViewSet, ILinkLoginViewSet
from .media import IncomingMediaViewSet, MaterialViewSet
from .menus import AccountMenuViewSet, MenuVersionViewSet, MenuViewSet
from .outbound import CampaignViewSet, FollowerViewSet, OutboundMessageViewSet, TemplateViewSet
from .views import AccountViewSet, MessageLogViewSet, RuleViewSet
from .web import QRCodeViewSet, ShortLinkViewSet
from .wecom import WeComDepartmentViewSet, WeComMemberViewSet, WeComTagViewSet


class AppRouter(DefaultRouter):
    APIRootView = AppAPIRootView


router = AppRouter()
# Only the actions on an account's menus as a whole (accounts/{name}/menus/pull/, delete-live/,
# trymatch/). Registered before AccountViewSet, which the API root then lists under "accounts".
router.register("accounts", AccountMenuViewSet, basename="account-menus")
router.register("accounts", AccountAgentViewSet, basename="account-agent")  # accounts/{name}/agent/
router.register("accounts", AccountViewSet, basename="account")
router.register("rules", RuleViewSet, basename="rule")
router.register("messages", MessageLogViewSet, basename="messagelog")
router.register("menus", MenuViewSet, basename="menu")
router.register("menu-versions", MenuVersionViewSet, basename="menuversion")
router.register("outbound-messages", OutboundMessageViewSet, basename="outboundmessage")
router.register("templates", TemplateViewSet, basename="template")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("followers", FollowerViewSet, basename="follower")
router.register("tags", TagViewSet, basename="tag")
router.register("mass-messages", MassMessageViewSet, basename="massmessage")
router.register("kf-accounts", KfAccountViewSet, basename="kfaccount")
router.register("qrcodes", QRCodeViewSet, basename="qrcode")
router.register("short-links", ShortLinkViewSet, basename="shortlink")
router.register("materials", MaterialViewSet, basename="material")
router.register("incoming-media", IncomingMediaViewSet, basename="incomingmedia")
router.register("wecom-departments", WeComDepartmentViewSet, basename="wecomdepartment")
router.register("wecom-members", WeComMemberViewSet, basename="wecommember")
router.register("wecom-tags", WeComTagViewSet, basename="wecomtag")
router.register("agent/inbox", AgentEventViewSet, basename="agentevent")
router.register("agent", AgentViewSet, basename="agent")
router.register("ilink-bots", ILinkBotViewSet, basename="ilinkbot")
router.register("ilink-logins", ILinkLoginViewSet, basename="ilinklogin")

urlpatterns = [
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(), name="api-docs"),
    path("redoc/", RedocView.as_view(), name="api-redoc"),
    *router.urls,
    # Any other path under the API: a 404 in the API's error shape, not Django's HTML page.
    re_path(r"^.*$", not_found),
]
