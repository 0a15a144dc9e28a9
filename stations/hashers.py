from django.contrib.auth.hashers import PBKDF2PasswordHasher


class StationKeyHasher(PBKDF2PasswordHasher):
    """PBKDF2 for station AuthorizationKeys (HTTP Basic passwords of chargers), with fewer rounds than for
    people. Key stretching protects low-entropy human passwords; an AuthorizationKey is at least 16 random
    bytes (security whitepaper A00.FR.205), beyond brute force at any round count. What the rounds would
    cost is real, though: after a deploy every charger reconnects at once, and at Django's 1,000,000 rounds
    (~0.3 s each here) a few thousand handshakes would outlast daphne's 5 s handshake timeout."""

    algorithm = "pbkdf2_sha256_station"
    iterations = 20_000
