from django.urls import path
from rest_framework.routers import DefaultRouter

from .views import LoginView, LogoutView, UserViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("", UserViewSet, basename="user")

urlpatterns = router.urls

auth_urlpatterns = [
    path("login/", LoginView.as_view(), name="auth-login"),
    path("logout/", LogoutView.as_view(), name="auth-logout"),
]
