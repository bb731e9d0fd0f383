"""Account lockout (django-axes, counted in the shared cache): until when an account is
locked, how many attempts remain, and the unlock by a records administrator.

Axes keeps only failure counters; the moment a lockout ends is kept here, written when axes
locks the account (its `user_locked_out` signal) with the same cool-off, so that a locked
user can be told until when (UTC)."""

from datetime import UTC

from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django.conf import settings
from django.core.cache import cache
from django.dispatch import receiver
from django.utils import timezone

_UNTIL_KEY = "ebr:locked-until:{username}"


def _iso(moment):
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@receiver(user_locked_out, dispatch_uid="core.lockout.remember_until")
def remember_until(sender, request=None, username=None, **kwargs):
    if not username:
        return
    cool_off = settings.AXES_COOLOFF_TIME
    until = timezone.now() + cool_off
    cache.set(_UNTIL_KEY.format(username=username), _iso(until), timeout=cool_off.total_seconds())


def locked_until(username):
    """The UTC ISO time the lockout of `username` ends, or None when not recorded."""
    return cache.get(_UNTIL_KEY.format(username=username))


def locked_message(username):
    until = locked_until(username)
    if until is None:
        return "This account is locked after repeated failed attempts. Try again later."
    return f"This account is locked after repeated failed attempts until {until} (UTC)."


def attempts_remaining(request, username):
    """Failed attempts left before the account of `username` is locked."""
    failures = AxesProxyHandler.get_failures(request, {"username": username})
    return max(settings.AXES_FAILURE_LIMIT - failures, 0)


def clear_lockout(username):
    """Forget the failures and the lockout of `username` (the unlock)."""
    AxesProxyHandler.reset_attempts(username=username)
    cache.delete(_UNTIL_KEY.format(username=username))
