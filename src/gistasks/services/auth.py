"""Who is calling, and what they may do: sign-in, tokens, and the checks every endpoint makes.

A token is accepted when it is well signed, unexpired, its user exists and is enabled, its
credentials version is the user's (a password change or disabling revokes it), and its
binding (a referer or an IP address) matches the request. Everything here is plain Python:
the API hands in what the request carried.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from gistasks.config import SignInPolicy
from gistasks.security.clients import client_key
from gistasks.security.tokens import (
    DEFAULT_MINUTES,
    TokenClaims,
    TokenError,
    issue,
    read,
    referer_matches,
)
from gistasks.services.errors import (
    ForbiddenError,
    InvalidTokenError,
    ServiceError,
    TokenRequiredError,
)
from gistasks.services.users import UserService
from gistasks.store import Store
from gistasks.store.records import ActivityRecord, UserRecord

log = logging.getLogger("gistasks.auth")
ORG_ADMIN = "org_admin"
VERIFIED_TOKENS = 4096
"""At most this many verified tokens are remembered (a few MB at most)."""


class SignInError(ServiceError):
    """generateToken could not give a token: ``Unable to generate token.`` and why."""

    def __init__(self, detail: str) -> None:
        super().__init__("Unable to generate token.", [detail])


class LockedOutError(SignInError):
    """Too many failed sign-ins for the account or from the address: no password is checked
    until the lock ends."""

    code = 429

    def __init__(self, minutes: int) -> None:
        super().__init__(f"Too many failed sign-ins; try again in {minutes} minute"
                         f"{'s' if minutes != 1 else ''}.")
        self.minutes = minutes


class SignInGuard:
    """Failed sign-ins counted per account and per client address, in the database (every
    node sees them). A name that does not exist is counted like one that does, so the answers
    do not tell them apart. Failures are logged with the name and the address, never the
    password."""

    def __init__(self, store: Store, policy: SignInPolicy) -> None:
        self.store = store
        self.policy = policy

    @staticmethod
    def account_key(username: str) -> str:
        return f"account:{username.strip().lower()[:128]}"

    @staticmethod
    def address_key(address: str | None) -> str:
        return f"address:{client_key(address)}"

    def check(self, username: str, address: str | None) -> None:
        """LockedOutError while the account or the address is locked."""
        now = now_ms()
        states = self.store.sign_ins.get([self.account_key(username),
                                          self.address_key(address)])
        until = max((s.locked_until for s in states.values()), default=0)
        if until > now:
            raise LockedOutError(max(1, math.ceil((until - now) / 60_000)))

    def failed(self, username: str, address: str | None) -> None:
        p, now = self.policy, now_ms()
        account = self.store.sign_ins.failed(self.account_key(username), now,
                                             p.window_s * 1000, p.account_failures,
                                             p.lockout_s * 1000)
        source = self.store.sign_ins.failed(self.address_key(address), now,
                                            p.window_s * 1000, p.address_failures,
                                            p.lockout_s * 1000)
        log.warning("failed sign-in for %r from %s (%d for the account, %d from the address "
                    "in %d min)%s", username[:128], address or "?", account.failures,
                    source.failures, p.window_s // 60,
                    "; locked" if max(account.locked_until, source.locked_until) > now else "")

    def succeeded(self, username: str, address: str | None = None) -> None:
        """Forget the account's failures and note the sign-in for the activity report."""
        self.store.sign_ins.clear(self.account_key(username))
        self.store.items.record(ActivityRecord(now_ms(), username, "signin", address or ""))

    def unlock_account(self, username: str) -> bool:
        """End an account's lock (and forget its failures); False if it had none."""
        return self.store.sign_ins.clear(self.account_key(username))

    def unlock_address(self, address: str) -> bool:
        """End an address's block (and forget its failures); False if it had none."""
        return self.store.sign_ins.clear(self.address_key(address))


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified token and the user it stands for (its binding not yet checked)."""

    claims: TokenClaims
    user: UserRecord


@dataclass(frozen=True, slots=True)
class Token:
    token: str
    expires: int
    """Epoch milliseconds."""
    minutes: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class AuthService:
    """Tokens under the deployment's key, checked against the users."""

    def __init__(self, users: UserService, guard: SignInGuard, token_key: bytes,
                 max_minutes: int) -> None:
        self.users = users
        self.guard = guard
        self.token_key = token_key
        self.max_minutes = max_minutes
        """The longest lifetime of any token (``GISTASKS_TOKEN_MAX_MINUTES``)."""
        self._verified: dict[str, TokenClaims] = {}
        """Tokens whose signature was checked, with their claims: a client polling a job
        sends the same token many times a second. Expiry and the user's standing are still
        checked on every request; the memo is emptied when full."""

    def sign_in(self, username: str, password: str, address: str | None) -> UserRecord | None:
        """The user if the name and password match and the user is enabled, else None (a
        failure, counted). LockedOutError, without a password check, while the account or the
        address is locked."""
        self.guard.check(username, address)
        user = self.users.authenticate(username, password)
        if user is None:
            self.guard.failed(username, address)
            return None
        self.guard.succeeded(user.username, address)
        return user

    # -- tokens ---------------------------------------------------------------------------------

    def minutes(self, asked: float | None, default: int = DEFAULT_MINUTES) -> int:
        """The lifetime a client asked for (``default`` if none), within the server's cap."""
        return int(max(1, min(default if asked is None else asked, self.max_minutes)))

    def issue(self, user: UserRecord, minutes: int, referer: str | None = None,
              ip: str | None = None) -> Token:
        """A token of ``user`` for ``minutes`` (within the cap), bound as asked."""
        minutes = self.minutes(minutes)
        expires = now_ms() + minutes * 60_000
        token = issue(self.token_key, TokenClaims(user.username, user.credentials_version,
                                                  expires, referer, ip))
        return Token(token, expires, minutes)

    def token_for(self, username: str, minutes: int) -> str:
        """A token of ``username`` for ``minutes`` (within the cap), minted by the server for
        its own calls (a GPService run calls this server as the task's owner);
        InvalidTokenError if the user no longer exists or is disabled."""
        user = self.users.get(username)
        if user is None or user.disabled:
            raise InvalidTokenError(["The task's owner cannot sign in."])
        return self.issue(user, minutes).token

    def generate_token(self, username: str, password: str, *, expiration: float | None,
                       client: str, referer: str, ip: str, request_ip: str | None) -> Token:
        """ArcGIS ``generateToken``: a token for a name and password, optionally bound to a
        referer (``client=referer``), an address (``client=ip``) or the caller's address
        (``client=requestip``). Checks the password last (it is the costly part)."""
        if not username or not password:
            raise SignInError("'username' and 'password' must be specified.")
        if expiration is not None and int(expiration) <= 0:
            raise SignInError("'expiration' must be a positive number of minutes.")
        bound_referer = bound_ip = None
        client = client.lower()
        if client == "referer":
            if not referer:
                raise SignInError("'referer' must be specified when client is referer.")
            bound_referer = referer
        elif client == "ip":
            if not ip:
                raise SignInError("'ip' must be specified when client is ip.")
            bound_ip = ip
        elif client == "requestip":
            bound_ip = request_ip
        elif client:
            raise SignInError("'client' must be referer, ip or requestip.")
        user = self.sign_in(username, password, request_ip)
        if user is None:
            raise SignInError("Invalid username or password.")
        return self.issue(user, self.minutes(None if expiration is None else int(expiration)),
                          bound_referer, bound_ip)

    def identify(self, token: str | None, *, referer: str | None, client_ip: str | None,
                 required: bool = True) -> UserRecord | None:
        """The user a request's token stands for; None for an anonymous request that
        ``required`` allows. TokenRequiredError (499) without a token, InvalidTokenError (498) for a
        token that is not (or no longer) good here."""
        if token is None:
            if required:
                raise TokenRequiredError()
            return None
        identity = self.verify(token)
        self.check_binding(identity, referer=referer, client_ip=client_ip)
        return identity.user

    def verify(self, token: str) -> Identity:
        """A token that is well signed, unexpired and still stands for its user (binding
        aside); InvalidTokenError otherwise. Cheap: a request's token is verified before its
        body is read."""
        now = now_ms()
        claims = self._verified.get(token)
        if claims is None or claims.expires <= now:
            try:
                claims = read(self.token_key, token, now)
            except TokenError:
                raise InvalidTokenError() from None
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = claims
        return Identity(claims, self.current_user(claims.username, claims.version))

    @staticmethod
    def check_binding(identity: Identity, *, referer: str | None,
                      client_ip: str | None) -> None:
        """InvalidTokenError if the token is bound to a referer or an address this request
        does not come from."""
        claims = identity.claims
        if claims.referer is not None and not referer_matches(claims.referer, referer):
            raise InvalidTokenError(["The token is bound to another referer."])
        if claims.ip is not None and client_ip != claims.ip:
            raise InvalidTokenError(["The token is bound to another IP address."])

    def current_user(self, username: str, version: int) -> UserRecord:
        """The user a credential was issued to, if it still stands: the user exists, is
        enabled and has not changed its credentials since. InvalidTokenError otherwise."""
        user = self.users.get(username)
        if user is None or user.disabled or user.credentials_version != version:
            raise InvalidTokenError()
        return user

    # -- who may do what ------------------------------------------------------------------------

    def acting_for(self, caller: UserRecord, username: str) -> UserRecord:
        """The user named in a path, after checking the caller is that user or an org admin.

        An unknown user is 400 "does not exist or is inaccessible", as ArcGIS says it;
        someone else's is 403.
        """
        target = (caller if caller.username.lower() == username.lower()
                  else self.users.get(username))
        if target is None:
            raise ServiceError(f"User '{username}' does not exist or is inaccessible.")
        if target.username.lower() != caller.username.lower() and caller.role != ORG_ADMIN:
            raise ForbiddenError()
        return target

    @staticmethod
    def require_org_admin(caller: UserRecord) -> UserRecord:
        """The caller, who must be an org admin (the default administrator role)."""
        if caller.role != ORG_ADMIN:
            raise ForbiddenError()
        return caller
