"""The production password hasher: Argon2id with parameters chosen for this service.

Django's Argon2 defaults (100 MiB, t=2, p=8) make every login and every electronic
signature hold ~100 MiB for the verification, so one worker peaks above 200 MB. RFC 9106
§4 gives a second recommended option for memory-constrained environments: 64 MiB, three
passes, four lanes. That is what is used here: the memory-hardness stays well above the
RFC's floor, a worker's peak drops by ~40 MiB, and the extra pass keeps the time cost.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idRFC9106Hasher(Argon2PasswordHasher):
    """Argon2id, RFC 9106 second recommended option (64 MiB, t=3, p=4).

    The algorithm name stays "argon2", so every stored Argon2 hash (Django's defaults
    included) still verifies; `must_update` sees the different parameters and Django
    rehashes the password with these on the user's next successful login or signature.
    """

    time_cost = 3
    memory_cost = 64 * 1024  # KiB
    parallelism = 4
