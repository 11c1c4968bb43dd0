from rest_framework.routers import DefaultRouter

from .views import AccountViewSet, MessageLogViewSet, RuleViewSet

router = DefaultRouter()
router.register("accounts", AccountViewSet, basename="account")
router.register("rules", RuleViewSet, basename="rule")
router.register("messages", MessageLogViewSet, basename="messagelog")

urlpatterns = router.urls
