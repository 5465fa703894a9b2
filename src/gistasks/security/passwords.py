"""Password hashing: argon2id with the library's recommended parameters (about 0.2 s of CPU
and 64 MiB per check). Which passwords are acceptable is a rule, and lives in
``services.users``."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash``; False for a wrong password or a hash
    that is not an argon2 hash."""
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True if the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def spend_like_a_check(password: str) -> None:
    """Spend the time of one check without a hash to check against (an unknown user name), so
    that timing does not tell known names from unknown ones."""
    _hasher.hash(password)
