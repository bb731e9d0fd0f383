"""The one rule that identifies a client by its network address, for the throttles (DRF)
and the login/signature lockout log (django-axes) alike.

The address is the one the configured proxies report: with `NUM_PROXIES` = 0 (the
default, no proxy) REMOTE_ADDR alone; with N trusted proxies in front, the N-th address
from the right of X-Forwarded-For (each proxy appends the address it saw, so what a client
writes in the header itself is further left and never chosen). DRF's own rule, read from
REST_FRAMEWORK["NUM_PROXIES"]; axes is pointed here by AXES_CLIENT_IP_CALLABLE.
"""

from rest_framework.throttling import BaseThrottle


def client_ip(request):
    return BaseThrottle().get_ident(request)
