from __future__ import annotations

import time

import jwt
import pytest

from trader.services.common.security import (
    AuthenticationError,
    Authenticator,
    issue_token,
    scopes_implied_by,
)
from trader.settings import Settings

SECRET = "s" * 40
API_TOKEN = "operator-token-" + "x" * 30
# Parameters are built at collection time: tokens must outlive a long test run.
DAY_AHEAD = int(time.time()) + 86400


def authenticator(**overrides: object) -> Authenticator:
    values: dict[str, object] = {
        "api_secret_key": SECRET,
        "api_token": API_TOKEN,
        "allow_unauthenticated_loopback": False,
    }
    values.update(overrides)
    return Authenticator(Settings(_env_file=None, **values))  # type: ignore[arg-type]


def test_the_api_token_grants_every_scope() -> None:
    principal = authenticator().authenticate(f"Bearer {API_TOKEN}", "10.1.2.3")
    assert principal.method == "api_token"
    assert principal.scopes == {"read", "trade", "admin"}


def test_a_jwt_grants_its_scopes() -> None:
    token = issue_token(SECRET, "alice", "trade", 600)
    principal = authenticator().authenticate(f"Bearer {token}", "10.1.2.3")
    assert (principal.user_id, principal.method) == ("alice", "jwt")
    assert principal.allows("read") and principal.allows("trade") and not principal.allows("admin")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing bearer token"),
        ("Basic abc", "malformed Authorization header"),
        ("Bearer ", "malformed Authorization header"),
        (f"Bearer {API_TOKEN}x", "invalid token"),
        (f"Bearer {issue_token('t' * 40, 'mallory', 'admin', 86400)}", "invalid token"),
        (f"Bearer {issue_token(SECRET, 'bob', 'read', 60, now=time.time() - 3600)}", "token expired"),
        (
            f"Bearer {jwt.encode({'sub': 'eve', 'exp': DAY_AHEAD, 'scopes': ['god']}, SECRET)}",
            "unknown scopes",
        ),
        (
            f"Bearer {jwt.encode({'sub': 'eve', 'exp': DAY_AHEAD}, SECRET, algorithm='HS512')}",
            "invalid token",
        ),
    ],
)
def test_bad_credentials_say_why(header: str | None, message: str) -> None:
    with pytest.raises(AuthenticationError, match=message):
        authenticator().authenticate(header, "10.1.2.3")


def test_development_loopback_may_omit_the_token_and_nobody_else() -> None:
    relaxed = authenticator(allow_unauthenticated_loopback=True)
    assert relaxed.authenticate(None, "127.0.0.1").method == "development_loopback"
    assert relaxed.authenticate(None, "::1").method == "development_loopback"
    with pytest.raises(AuthenticationError):
        relaxed.authenticate(None, "192.168.1.100")
    with pytest.raises(AuthenticationError):
        authenticator().authenticate(None, "127.0.0.1")
    # A wrong token is wrong even from loopback.
    with pytest.raises(AuthenticationError, match="invalid token"):
        relaxed.authenticate("Bearer nope", "127.0.0.1")


def test_nothing_configured_is_said_plainly() -> None:
    with pytest.raises(AuthenticationError, match="not configured"):
        authenticator(api_secret_key=None, api_token=None).authenticate("Bearer abc", "10.0.0.1")


def test_scopes_nest_and_lifetimes_are_bounded() -> None:
    assert scopes_implied_by("admin") == {"read", "trade", "admin"}
    assert scopes_implied_by("read") == {"read"}
    with pytest.raises(ValueError, match="unknown scope"):
        scopes_implied_by("root")
    with pytest.raises(ValueError, match="lifetime"):
        issue_token(SECRET, "x", "read", 0)
