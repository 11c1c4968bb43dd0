from rest_framework.routers import DefaultRouter

from .audience import KfAccountViewSet, MassMessageViewSet, TagViewSet
from .menus import AccountMenuViewSet, MenuVersionViewSet, MenuViewSet
from .outbound import CampaignViewSet, FollowerViewSet, OutboundMessageViewSet, TemplateViewSet
from .views import AccountViewSet, MessageLogViewSet, RuleViewSet

router = DefaultRouter()
# Only the actions on an account's menus as a whole (accounts/{name}/menus/pull/, delete-live/,
# trymatch/). Registered before AccountViewSet, which the API root then lists under "accounts".
router.register("accounts", AccountMenuViewSet, basename="account-menus")
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

urlpatterns = router.urls
