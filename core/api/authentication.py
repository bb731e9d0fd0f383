from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from knox.signals import token_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """knox's expiring tokens, without reading every token of the user on each request.

    knox sweeps all of a user's tokens at every authentication (one query more per request,
    growing with each tablet login); here only the presented token is checked, and the
    other expired ones are deleted by `manage.py purge_expired_tokens`.
    """

    def _cleanup_token(self, auth_token):
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class ExpiringTokenScheme(KnoxTokenScheme):
    """OpenAPI: the same `Authorization: Token <token>` scheme as knox's."""

    target_class = "core.api.authentication.ExpiringTokenAuthentication"
