"""Security operations: key rotation, a configuration audit, and a review of access from the audit log."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import stat
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from trader.adapters.db.engine import create_engine
from trader.adapters.db.tables import audit_logs
from trader.commands.ops import EnvironmentOption, console, fail, settings_for
from trader.settings import MIN_SECRET_LENGTH, Environment, environment_file

app = typer.Typer(help="Key rotation, security audit and access review.", no_args_is_help=True)
ROTATED_KEYS = ("API_SECRET_KEY", "API_TOKEN")
PROVIDER_KEYS = ("TWELVE_DATA_API_KEY", "ALPACA_API_KEY", "ALPACA_SECRET_KEY")
FAILED_LOGINS_ALERT = 10


def _set_variable(text: str, name: str, value: str) -> str:
    pattern = re.compile(rf"^{name}=.*$", re.MULTILINE)
    line = f"{name}={value}"
    if pattern.search(text):
        return pattern.sub(lambda _match: line, text)
    return text.rstrip("\n") + ("\n" if text else "") + line + "\n"


@app.command("rotate-keys")
def rotate_keys(
    environment: EnvironmentOption = None,
    env_file: Annotated[
        Path | None, typer.Option(help="file to rewrite (default config/environments/<env>.env)")
    ] = None,
) -> None:
    """New API_SECRET_KEY and API_TOKEN in the environment file (old one kept as .bak); then restart."""
    settings = settings_for(environment)
    target = env_file or environment_file(settings.environment.value)
    if not target.exists():
        raise fail(f"{target} does not exist; create it from config/environments/ first")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = target.with_name(f"{target.name}.{stamp}.bak")
    shutil.copy2(target, backup)
    backup.chmod(stat.S_IRUSR | stat.S_IWUSR)
    text = target.read_text()
    for name in ROTATED_KEYS:
        text = _set_variable(text, name, secrets.token_urlsafe(48))
    target.write_text(text)
    target.chmod(stat.S_IRUSR | stat.S_IWUSR)
    console.print(f"rotated {', '.join(ROTATED_KEYS)} in {target} (previous file: {backup}, mode 600)")
    console.print(
        "  every JWT signed with the old API_SECRET_KEY is now invalid; issue new ones: trader token issue"
    )
    console.print("  restart the services so they read the new values")
    for name in PROVIDER_KEYS:
        console.print(
            f"  {name}: issued by the provider; regenerate it in their dashboard, then set it in {target}"
        )


def _audit_findings(environment: str | None) -> tuple[list[str], list[str]]:
    settings = settings_for(environment)
    problems: list[str] = []
    notes: list[str] = []
    for name in ("api_secret_key", "api_token"):
        secret = getattr(settings, name)
        if secret is None or not secret.get_secret_value():
            (problems if settings.environment is Environment.PRODUCTION else notes).append(
                f"{name.upper()} is not set"
            )
        elif len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
            problems.append(f"{name.upper()} is shorter than {MIN_SECRET_LENGTH} characters")
    if settings.loopback_without_token and settings.environment is not Environment.DEVELOPMENT:
        problems.append("unauthenticated loopback calls are allowed outside development")
    if "*" in settings.cors_origins:
        problems.append("CORS allows every origin")
    if (
        settings.host not in ("127.0.0.1", "localhost", "::1")
        and settings.environment is Environment.DEVELOPMENT
    ):
        notes.append(f"development services listen on {settings.host}, not only loopback")
    if "paper" not in settings.alpaca_base_url:
        notes.append(f"ALPACA_BASE_URL is {settings.alpaca_base_url}: LIVE trading")
    env_file = environment_file(settings.environment.value)
    if (
        env_file.exists()
        and env_file.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH)
        and _holds_secrets(env_file)
    ):
        problems.append(f"{env_file} holds secrets and is readable by other users (chmod 600 it)")
    if (
        settings.database_url
        and "@" in settings.database_url
        and ":" in settings.database_url.split("@")[0][13:]
    ):
        notes.append("DATABASE_URL carries a password; prefer ~/.pgpass or a secret store")
    failures = asyncio.run(_recent_failures(settings.effective_database_url, hours=24))
    suspicious = {ip: count for ip, count in failures.items() if count >= FAILED_LOGINS_ALERT}
    if suspicious:
        problems.append(
            "many failed authentications in 24 h: " + ", ".join(f"{ip} ({n})" for ip, n in suspicious.items())
        )
    return problems, notes


_SECRET_NAMES = ("API_SECRET_KEY", "API_TOKEN", "ALPACA_API_KEY", "ALPACA_SECRET_KEY", "TWELVE_DATA_API_KEY")


def _holds_secrets(env_file: Path) -> bool:
    """True when the file sets a secret to a value (the shipped examples set none)."""
    for line in env_file.read_text().splitlines():
        name, _, value = line.strip().partition("=")
        if name.startswith("#") or not value.strip():
            continue
        upper = name.strip().upper()
        if upper in _SECRET_NAMES or "PASSWORD" in upper or upper.endswith("_TOKEN"):
            return True
    return False


async def _recent_failures(url: str, *, hours: int) -> Counter[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(audit_logs.c.ip_address).where(
                        audit_logs.c.action == "authenticate",
                        audit_logs.c.success.is_(False),
                        audit_logs.c.timestamp > datetime.now(UTC) - timedelta(hours=hours),
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return Counter(row[0] or "-" for row in rows)


@app.command("audit")
def audit(environment: EnvironmentOption = None) -> None:
    """Check secrets, CORS, loopback exception, file permissions and failed logins; exit 1 on a problem."""
    try:
        problems, notes = _audit_findings(environment)
    except Exception as error:  # the operator needs the reason, not a traceback
        raise fail(f"security audit could not run: {type(error).__name__}: {error}") from None
    console.print("Security audit")
    for note in notes:
        console.print(f"  [NOTE] {note}", markup=False)
    for problem in problems:
        console.print(f"  [FAIL] {problem}", markup=False)
    if problems:
        console.print(f"RESULT: {len(problems)} problem(s)")
        raise typer.Exit(1)
    console.print("RESULT: OK")


@app.command("access-review")
def access_review(
    days: Annotated[int, typer.Option("--days", min=1, help="look back this many days")] = 30,
    environment: EnvironmentOption = None,
) -> None:
    """Who authenticated, from where, what they changed, and which addresses kept failing."""
    settings = settings_for(environment)
    since = datetime.now(UTC) - timedelta(days=days)

    async def load() -> list[tuple[str | None, str | None, str, bool, int | None]]:
        engine = create_engine(settings.effective_database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                query = select(
                    audit_logs.c.user_id,
                    audit_logs.c.ip_address,
                    audit_logs.c.action,
                    audit_logs.c.success,
                    audit_logs.c.status_code,
                ).where(audit_logs.c.timestamp >= since)
                return [tuple(row) for row in (await connection.execute(query)).all()]
        finally:
            await engine.dispose()

    try:
        rows = asyncio.run(load())
    except Exception as error:
        raise fail(f"access review could not read audit_logs: {type(error).__name__}: {error}") from None
    logins = Counter(
        (user or "-", ip or "-") for user, ip, action, ok, _ in rows if action == "authenticate" and ok
    )
    failures = Counter(ip or "-" for _user, ip, action, ok, _ in rows if action == "authenticate" and not ok)
    changes = Counter(
        (user or "-", action) for user, _ip, action, ok, _ in rows if action != "authenticate" and ok
    )
    refused = Counter(code for *_rest, code in rows if code in (401, 403, 429))
    console.print(
        f"Access review: last {days} days (since {since.isoformat(timespec='seconds')})", markup=False
    )
    console.print("Successful authentications (user, address):")
    for (user, ip), count in logins.most_common():
        console.print(f"  {count:>6}  {user}  {ip}", markup=False)
    console.print("Failed authentications by address:")
    for ip, count in failures.most_common():
        flag = "  <- review" if count >= FAILED_LOGINS_ALERT else ""
        console.print(f"  {count:>6}  {ip}{flag}", markup=False)
    console.print("Changes made (user, action):")
    for (user, action), count in changes.most_common(30):
        console.print(f"  {count:>6}  {user}  {action}", markup=False)
    console.print(
        "Refused requests: "
        + (", ".join(f"HTTP {code}: {count}" for code, count in sorted(refused.items())) or "none")
    )
    if not rows:
        console.print("(no audit entries in the period)")
