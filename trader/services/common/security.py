"""Authentication and authorisation for the HTTP APIs.

A caller presents `Authorization: Bearer <token>`: either the operator's `API_TOKEN` (all
scopes) or a JWT signed with `API_SECRET_KEY` (HS256) carrying `sub` and `scopes`. Scopes nest:
admin > trade > read. Every attempt is audited; tokens are compared in constant time and never
logged. In development, loopback callers may omit the token so the guide's curl lines work as
written (a setting, refused in production).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from fastapi import HTTPException, Request

from trader.adapters.db.stores.audit import AuditEntry, AuditStore
from trader.settings import Settings

log = logging.getLogger(__name__)

SCOPE_ORDER = ("read", "trade", "admin")
JWT_ALGORITHM = "HS256"
MAX_TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600


def scopes_implied_by(scope: str) -> frozenset[str]:
    """admin implies trade implies read."""
    if scope not in SCOPE_ORDER:
        raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(SCOPE_ORDER)}")
    return frozenset(SCOPE_ORDER[: SCOPE_ORDER.index(scope) + 1])


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    scopes: frozenset[str]
    method: str  # "api_token" | "jwt" | "development_loopback"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


class AuthenticationError(Exception):
    """Why a credential was refused; the message is safe to show the caller."""


def issue_token(
    secret: str, subject: str, scope: str, lifetime_seconds: int, *, now: float | None = None
) -> str:
    if not 0 < lifetime_seconds <= MAX_TOKEN_LIFETIME_SECONDS:
        raise ValueError(f"token lifetime must be between 1 s and {MAX_TOKEN_LIFETIME_SECONDS} s")
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": subject,
        "scopes": sorted(scopes_implied_by(scope)),
        "iat": issued,
        "exp": issued + lifetime_seconds,
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._api_token = settings.api_token.get_secret_value().encode() if settings.api_token else None
        self._secret = settings.api_secret_key.get_secret_value() if settings.api_secret_key else None
        self._loopback_without_token = settings.loopback_without_token

    def authenticate(self, authorization: str | None, client_ip: str | None) -> Principal:
        if authorization is None:
            if self._loopback_without_token and _is_loopback(client_ip):
                return Principal("development-loopback", frozenset(SCOPE_ORDER), "development_loopback")
            raise AuthenticationError("missing bearer token: send 'Authorization: Bearer <API_TOKEN or JWT>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("malformed Authorization header: expected 'Bearer <token>'")
        if self._api_token is None and self._secret is None:
            raise AuthenticationError("authentication is not configured: set API_TOKEN or API_SECRET_KEY")
        if self._api_token is not None and hmac.compare_digest(token.encode(), self._api_token):
            return Principal("api_token", frozenset(SCOPE_ORDER), "api_token")
        if self._secret is not None and token.count(".") == 2:
            return self._from_jwt(token, self._secret)
        raise AuthenticationError("invalid token")

    @staticmethod
    def _from_jwt(token: str, secret: str) -> Principal:
        try:
            claims = jwt.decode(
                token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp"]}
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token expired") from None
        except jwt.PyJWTError:
            raise AuthenticationError("invalid token") from None
        scopes = claims.get("scopes", [])
        if not isinstance(scopes, list) or not all(scope in SCOPE_ORDER for scope in scopes):
            raise AuthenticationError("token carries unknown scopes")
        return Principal(str(claims["sub"]), frozenset(scopes), "jwt")


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _audit_attempt(request: Request, *, success: bool, user_id: str | None, error: str | None) -> None:
    store: AuditStore = request.app.state.audit_store
    entry = AuditEntry(
        timestamp=datetime.now(UTC),
        action="authenticate",
        service_name=request.app.state.service,
        success=success,
        user_id=user_id,
        ip_address=_client_ip(request),
        resource=request.url.path,
        method=request.method,
        status_code=None if success else 401,
        error_message=error,
        severity="info" if success else "warning",
    )
    try:
        await store.record(entry)
    except Exception:  # the refusal itself must not turn into a 500
        log.exception("could not write the authentication audit entry")


def require_scope(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency: the caller must authenticate and hold `scope` (or a wider one)."""
    scopes_implied_by(scope)  # an unknown scope is a programming error, caught at import

    async def dependency(request: Request) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        header = request.headers.get("authorization")
        try:
            principal = authenticator.authenticate(header, _client_ip(request))
        except AuthenticationError as error:
            log.warning(
                "authentication failed from %s on %s %s: %s",
                _client_ip(request),
                request.method,
                request.url.path,
                error,
            )
            await _audit_attempt(request, success=False, user_id=None, error=str(error))
            raise HTTPException(401, detail=str(error), headers={"WWW-Authenticate": "Bearer"}) from None
        if principal.method != "development_loopback":
            await _audit_attempt(request, success=True, user_id=principal.user_id, error=None)
        request.state.principal = principal
        if not principal.allows(scope):
            raise HTTPException(
                403,
                detail=f"this call needs the '{scope}' scope; the token has "
                f"{', '.join(sorted(principal.scopes)) or 'none'}",
            )
        return principal

    return dependency


def principal_of(scope_state: dict[str, Any]) -> Principal | None:
    principal = scope_state.get("principal")
    return principal if isinstance(principal, Principal) else None
