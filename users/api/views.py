from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth.signals import user_logged_in
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.models import get_token_model
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.api.serializers import SignedReasonInputSerializer
from core.api.viewsets import idempotency_parameter
from core.exceptions import NotPermitted, SignatureRejected
from core.lockout import locked_message
from core.services import check_password_for_signature, is_locked_out
from users.models import User
from users.services import unlock_account

from .serializers import LoginSerializer, PasswordChangeSerializer, TokenSerializer, UserSerializer

UnlockInputSerializer = SignedReasonInputSerializer

_message = inline_serializer("Message", {"detail": serializers.CharField()})


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class LoginView(APIView):
    """Exchange a username and password for an expiring token (tablets and API clients)."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=LoginSerializer, responses={200: TokenSerializer, 400: _message, 403: _message})
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["username"]
        candidate = User.objects.filter(username=username).first()
        if candidate is not None and is_locked_out(candidate):
            raise NotPermitted(locked_message(candidate.get_username()), code="account_locked")
        user = authenticate(request._request, username=username, password=serializer.validated_data["password"])
        if user is None:
            raise NotPermitted("Unable to sign in with these credentials.", code="authentication_failed")
        instance, token = get_token_model().objects.create(user=user)
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        body = TokenSerializer({"token": token, "expiry": instance.expiry, "user": user}).data
        return Response(body, status=status.HTTP_200_OK)


class LogoutView(APIView):
    """Revoke the token this request was authenticated with."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if request._auth is not None and hasattr(request._auth, "delete"):
            request._auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """Users (records administrators); `me/` for everyone."""

    serializer_class = UserSerializer
    queryset = User.objects.prefetch_related("groups", "sites", "product_lines")
    search_fields = ["username", "first_name", "last_name", "email"]
    ordering_fields = ["username", "last_login", "created_at"]
    filterset_fields = ["is_active", "groups__name", "sites__code"]

    def get_permissions(self):
        # The unlock checks its own permission (users.unlock_user) in its service.
        if self.action in ("me", "change_password", "unlock"):
            return [permissions.IsAuthenticated()]
        return [permissions.IsAuthenticated(), permissions.DjangoModelPermissions()]

    def get_queryset(self):
        queryset = super().get_queryset()
        user = self.request.user
        if user.is_superuser:
            return queryset
        return queryset.filter(sites__in=user.sites.all()).distinct()

    @extend_schema(responses=UserSerializer)
    @action(detail=False, methods=["get"])
    def me(self, request):
        user = (
            self.get_queryset()
            .model.objects.prefetch_related("groups", "sites", "product_lines")
            .get(pk=request.user.pk)
        )
        return Response(UserSerializer(user).data)

    @extend_schema(request=PasswordChangeSerializer, responses={200: _message})
    @action(detail=False, methods=["post"], url_path="me/password", throttle_classes=[ScopedRateThrottle])
    def change_password(self, request):
        serializer = PasswordChangeSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = request.user
        try:
            check_password_for_signature(user, serializer.validated_data["old_password"])
        except SignatureRejected as error:
            raise NotPermitted(error.message, code=error.code) from error
        user.set_password(serializer.validated_data["new_password"])
        user.save(actor=user, reason="Password changed by the user")
        if request._request.session is not None and hasattr(request._request, "session"):
            update_session_auth_hash(request._request, user)
        return Response({"detail": "Password changed."})

    @extend_schema(request=UnlockInputSerializer, responses={200: UserSerializer}, parameters=[idempotency_parameter])
    @action(detail=True, methods=["post"], throttle_classes=[ScopedRateThrottle])
    def unlock(self, request, pk=None):
        """Records administrators: unlock an account locked after repeated failed sign-ins or
        signatures; body `{"password", "reason", "comment"?}`, signed "unlocked" on the account,
        the reason kept in its history. 409 when the account is not locked."""
        account = self.get_object()  # an unknown or unseen account is a 404 whatever the body
        serializer = UnlockInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = unlock_account(account, actor=request.user, **serializer.validated_data)
        return Response(UserSerializer(self.get_queryset().model.objects.get(pk=user.pk)).data)

    throttle_scope = "signature"
