"""OpenID Connect sign-in (authorization code flow with PKCE, a nonce, and a validated, signature-checked ID token).

Authlib does the protocol; this module holds the settings' provider, checks what Authlib leaves to the caller (the
discovery document names the configured issuer; Entra's tenant), and turns the ID token's claims into an
``OidcIdentity`` that an ``OidcPersonMapper`` maps to a person in orderwatch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import Response

from desk.settings import OidcSettings

__all__ = ["InMemoryOidcLinks", "OidcError", "OidcIdentity", "OidcPersonMapper", "OidcSignIn"]


@dataclass(frozen=True)
class OidcIdentity:
    """Who the provider says signed in (validated ID token claims; no personal data is kept from it)."""

    issuer: str
    subject: str
    tenant_id: str | None = None
    object_id: str | None = None
    email: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        """The stable key to link to a person.

        Entra ID: ``entra:<tid>:<oid>`` — the object id is the same user in every app of the tenant, while ``sub`` is
        pairwise per app registration. Any other provider: ``<issuer>|<sub>``, the pair OIDC makes unique.
        """
        if self.tenant_id and self.object_id:
            return f"entra:{self.tenant_id}:{self.object_id}"
        return f"{self.issuer}|{self.subject}"


class OidcPersonMapper(Protocol):
    """Maps a provider's identity to a person in orderwatch (issue 13 stores the link beside the account)."""

    def person_for(self, identity: OidcIdentity) -> str | None:
        """The person's id, or None if this identity is linked to nobody (the sign-in is then refused)."""
        ...


class InMemoryOidcLinks:
    """An ``OidcPersonMapper`` over a dict of ``OidcIdentity.key`` → person id."""

    def __init__(self) -> None:
        self._links: dict[str, str] = {}
        self._lock = threading.Lock()

    def link(self, key: str, person_id: str) -> None:
        """Link an identity key (see ``OidcIdentity.key``) to a person."""
        with self._lock:
            self._links[key] = person_id

    def person_for(self, identity: OidcIdentity) -> str | None:
        with self._lock:
            return self._links.get(identity.key)


class OidcError(Exception):
    """The provider's sign-in did not complete; the message is for the log (no token, code or claim values)."""


class OidcSignIn:
    """One configured provider. ``start`` sends the browser there; ``finish`` validates what comes back.

    Both need ``request.session``: the desk's session middleware exposes the server-side session's ``data`` there,
    where Authlib keeps the state, nonce and PKCE verifier between the two requests.
    """

    NAME = "oidc"

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._oauth = OAuth()
        self._oauth.register(
            name=self.NAME,
            server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            client_kwargs={"scope": settings.scopes, "code_challenge_method": "S256", "timeout": 10.0},
        )

    @property
    def _client(self) -> Any:
        return self._oauth.create_client(self.NAME)

    async def start(self, request: Request) -> Response:
        """A redirect to the provider's authorization endpoint (state, nonce and PKCE kept in the session)."""
        try:
            metadata = await self._client.load_server_metadata()
        except (httpx2.HTTPError, ValueError) as exc:
            raise OidcError(f"discovery failed: {type(exc).__name__}") from None
        if str(metadata.get("issuer", "")).rstrip("/") != self.settings.issuer:
            raise OidcError("the discovery document names another issuer")
        response: Response = await self._client.authorize_redirect(request, self.settings.redirect_uri)
        return response

    async def finish(self, request: Request) -> OidcIdentity:
        """Exchange the code and validate the ID token (signature, issuer, audience, expiry, nonce); its identity."""
        try:
            token = await self._client.authorize_access_token(request)
        except (AuthlibBaseError, JoseError, httpx2.HTTPError, KeyError, ValueError) as exc:
            raise OidcError(f"token exchange or ID token refused: {type(exc).__name__}") from None
        claims = token.get("userinfo")  # Authlib puts the validated ID token's claims here
        if not claims or not claims.get("sub"):
            raise OidcError("the provider returned no ID token")
        tenant = claims.get("tid")
        if self.settings.tenant_id and tenant != self.settings.tenant_id:
            raise OidcError("the ID token is from another tenant")
        return OidcIdentity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            tenant_id=str(tenant) if tenant else None,
            object_id=str(claims["oid"]) if claims.get("oid") else None,
            email=str(claims["email"]) if claims.get("email") else None,
            name=str(claims["name"]) if claims.get("name") else None,
        )
