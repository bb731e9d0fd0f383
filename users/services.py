"""Account services: the unlock of a locked account by a records administrator."""

from django.core.exceptions import ValidationError
from django.db import transaction

from core.exceptions import Conflict, NotPermitted
from core.lockout import clear_lockout
from core.models import SignatureMeaning
from core.services import is_locked_out, lock, sign

UNLOCK_PERMISSION = "users.unlock_user"


@transaction.atomic
def unlock_account(user, *, actor, password, reason, comment="", username=None):
    """Unlock `user`'s account, locked after repeated failed sign-ins or signatures: a
    records administrator (never the account holder), with the reason, signed "unlocked" on
    the account and kept in its history."""
    if not actor.has_perm(UNLOCK_PERMISSION):
        raise NotPermitted("Unlocking an account is for records administrators (permission users.unlock_user).")
    user = lock(user)
    if user.pk == actor.pk:
        raise NotPermitted("You cannot unlock your own account: another records administrator must do it.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["An unlock needs the reason why."]})
    if not is_locked_out(user):
        raise Conflict(f"The account {user.get_username()} is not locked: nothing to unlock.", action="unlock")
    user.save(actor=actor, reason=f"Account unlocked: {reason}")
    sign(user, signer=actor, password=password, meaning=SignatureMeaning.UNLOCKED, comment=reason, username=username)
    # The failure counters live in the cache, outside the transaction: cleared only once
    # the signature is given (a refused password leaves the account locked).
    clear_lockout(user.get_username())
    return user
