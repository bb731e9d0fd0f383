"""The password hashing of the seeding process (`seed_demo --fast-passwords`)."""

from contextlib import contextmanager

from django.conf import settings
from django.test.utils import override_settings

from users.hashers import Argon2idRFC9106Hasher

ARGON2 = "users.hashers.Argon2idRFC9106Hasher"
SEEDING_ARGON2 = "demo.hashers.SeedingArgon2PasswordHasher"


class SeedingArgon2PasswordHasher(Argon2idRFC9106Hasher):
    """Argon2, with each (password, hash) pair verified once per process.

    Used only by `seed_demo --fast-passwords`, in its own process: every demo user's
    password is still checked against its real Argon2 hash, but the answer for the same
    password and hash is reused instead of spending ~0.1–0.3 s of Argon2 on every one of
    thousands of signatures. Stored hashes are plain Argon2, so logins and the server are
    unaffected.
    """

    _verified = {}

    def verify(self, password, encoded):
        key = (password, encoded)
        if key not in self._verified:
            self._verified[key] = super().verify(password, encoded)
        return self._verified[key]


@contextmanager
def fast_signatures():
    """The configured hashers, with Argon2 verified once per (password, hash) in this process."""
    hashers = [SEEDING_ARGON2 if name == ARGON2 else name for name in settings.PASSWORD_HASHERS]
    with override_settings(PASSWORD_HASHERS=hashers):
        yield
