"""The desk's settings: typed, validated once at start-up, read from ``ORDERWATCH_DESK_*``/``ORDERWATCH_OIDC_*``."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

__all__ = ["DeskSettings", "Limit", "OidcSettings", "SettingsError", "is_loopback"]


class SettingsError(ValueError):
    """A setting is missing or wrong; the message is one line naming it."""


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` failures within any ``window``."""

    attempts: int
    window: timedelta


@dataclass(frozen=True)
class OidcSettings:
    """An OpenID Connect provider (Microsoft Entra ID in councils; any conforming provider works).

    ``issuer`` is the provider's issuer URL (Entra: ``https://login.microsoftonline.com/<tenant id>/v2.0``); its
    discovery document is read from ``<issuer>/.well-known/openid-configuration`` and must name the same issuer.
    ``redirect_uri`` is this desk's ``/sign-in/oidc/callback`` as registered with the provider. ``tenant_id``, when
    set, refuses ID tokens whose ``tid`` claim differs (Entra).
    """

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: str = "openid profile email"
    tenant_id: str | None = None
    button_text: str = "Sign in with your council account"


@dataclass(frozen=True)
class DeskSettings:
    """Everything the desk needs to start; ``validate()`` refuses a bad combination in one line."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Secure cookies (and the __Host- prefix); off only for plain-http development on a loopback address
    cookie_secure: bool = True
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    account_limit: Limit = field(default_factory=lambda: Limit(5, timedelta(minutes=15)))
    address_limit: Limit = field(default_factory=lambda: Limit(20, timedelta(minutes=15)))
    password_sign_in: bool = True
    oidc: OidcSettings | None = None
    service_name: str = "orderwatch"
    phase: str = "Beta"

    def validate(self) -> DeskSettings:
        """Return these settings if they hold together, else raise ``SettingsError``."""
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"ORDERWATCH_DESK_PORT: {self.port} is not a port number")
        if not self.cookie_secure and not is_loopback(self.host):
            raise SettingsError(
                f"ORDERWATCH_DESK_INSECURE_COOKIES is allowed only on a loopback address, not {self.host}"
            )
        if self.idle_timeout <= timedelta(0) or self.absolute_timeout < self.idle_timeout:
            raise SettingsError("session timeouts: the idle timeout must be positive and not above the absolute one")
        for name, limit in (("account", self.account_limit), ("address", self.address_limit)):
            if limit.attempts < 1 or limit.window <= timedelta(0):
                raise SettingsError(f"sign-in {name} limit: attempts and window must be positive")
        if not self.password_sign_in and self.oidc is None:
            raise SettingsError(
                "ORDERWATCH_DESK_PASSWORDS=0 needs OpenID Connect (ORDERWATCH_OIDC_ISSUER and the rest)"
            )
        if self.oidc is not None:
            for name, url in (("ISSUER", self.oidc.issuer), ("REDIRECT_URI", self.oidc.redirect_uri)):
                parts = urlsplit(url)
                if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
                    raise SettingsError(f"ORDERWATCH_OIDC_{name}: {url} must be https (http only on a loopback host)")
            if not self.oidc.client_id or not self.oidc.client_secret:
                raise SettingsError("ORDERWATCH_OIDC_CLIENT_ID and ORDERWATCH_OIDC_CLIENT_SECRET are both needed")
            if "openid" not in self.oidc.scopes.split():
                raise SettingsError("ORDERWATCH_OIDC_SCOPES must include openid")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DeskSettings:
        """Settings from the environment (unset names keep their defaults), validated."""
        base = cls()
        try:
            window = timedelta(minutes=float(env.get("ORDERWATCH_DESK_ATTEMPT_WINDOW_MINUTES", "15")))
            oidc = None
            if env.get("ORDERWATCH_OIDC_ISSUER"):
                oidc = OidcSettings(
                    issuer=env["ORDERWATCH_OIDC_ISSUER"].rstrip("/"),
                    client_id=env.get("ORDERWATCH_OIDC_CLIENT_ID", ""),
                    client_secret=env.get("ORDERWATCH_OIDC_CLIENT_SECRET", ""),
                    redirect_uri=env.get("ORDERWATCH_OIDC_REDIRECT_URI", ""),
                    scopes=env.get("ORDERWATCH_OIDC_SCOPES", OidcSettings.scopes),
                    tenant_id=env.get("ORDERWATCH_OIDC_TENANT_ID") or None,
                    button_text=env.get("ORDERWATCH_OIDC_BUTTON_TEXT", OidcSettings.button_text),
                )
            settings = cls(
                host=env.get("ORDERWATCH_DESK_HOST", base.host),
                port=int(env.get("ORDERWATCH_DESK_PORT", str(base.port))),
                cookie_secure=not _flag(env, "ORDERWATCH_DESK_INSECURE_COOKIES", default=False),
                idle_timeout=timedelta(minutes=float(env.get("ORDERWATCH_DESK_IDLE_MINUTES", "30"))),
                absolute_timeout=timedelta(hours=float(env.get("ORDERWATCH_DESK_ABSOLUTE_HOURS", "12"))),
                account_limit=Limit(int(env.get("ORDERWATCH_DESK_ACCOUNT_ATTEMPTS", "5")), window),
                address_limit=Limit(int(env.get("ORDERWATCH_DESK_ADDRESS_ATTEMPTS", "20")), window),
                password_sign_in=_flag(env, "ORDERWATCH_DESK_PASSWORDS", default=True),
                oidc=oidc,
            )
        except ValueError as exc:
            if isinstance(exc, SettingsError):
                raise
            raise SettingsError(f"desk settings: {exc}") from None
        return settings.validate()


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: {value!r} is not 1 or 0")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
