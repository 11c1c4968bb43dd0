from rest_framework.routers import DefaultRouter

from .media import IncomingMediaViewSet, MaterialViewSet
from .menus import AccountMenuViewSet, MenuVersionViewSet, MenuViewSet
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
router.register("materials", MaterialViewSet, basename="material")
router.register("incoming-media", IncomingMediaViewSet, basename="incomingmedia")

urlpatterns = router.urls
