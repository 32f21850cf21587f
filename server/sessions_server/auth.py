"""Who is calling: authenticators that turn request metadata into a `Principal`.

`interceptor.CallInterceptor` runs the configured authenticator before every
handler and makes the principal available through `current_principal()` for the
whole call, streaming calls included. Production uses `JwtAuthenticator`;
`InsecureAuthenticator` is for development on a loopback address.
"""

import contextvars
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sessions_server.config import Settings
from sessions_server.errors import Unauthenticated

log = logging.getLogger(__name__)


class Actor(enum.StrEnum):
    USER = "user"
    AGENT = "agent"


@dataclass(frozen=True)
class Principal:
    owner: str
    actor: Actor


principal_var: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def current_principal() -> Principal:
    """The principal of the call being handled."""
    return principal_var.get()


Metadata = Sequence[tuple[str, str | bytes]]


class Authenticator(Protocol):
    def authenticate(self, metadata: Metadata) -> Principal:
        """The caller's principal, or raise `Unauthenticated`."""
        ...


def _metadata_value(metadata: Metadata, key: str) -> str | None:
    for item_key, value in metadata:
        if item_key == key:
            return value if isinstance(value, str) else None
    return None


def parse_actor(value: str | None) -> Actor:
    if value in (None, ""):
        return Actor.USER
    try:
        return Actor(value)
    except ValueError:
        raise Unauthenticated("actor must be 'user' or 'agent'") from None


MAX_OWNER_CHARS = 255


def checked_owner(owner: str | None) -> str:
    if not owner or len(owner) > MAX_OWNER_CHARS or not owner.isprintable():
        raise Unauthenticated()
    return owner


class InsecureAuthenticator:
    """Development mode: trusts the `x-owner` and `x-actor` metadata as sent."""

    def authenticate(self, metadata: Metadata) -> Principal:
        owner = checked_owner(_metadata_value(metadata, "x-owner"))
        return Principal(owner, parse_actor(_metadata_value(metadata, "x-actor")))


MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class JwtKey:
    """The verification key and the one algorithm it is used with."""

    key: Any
    algorithm: str


def _public_key(pem: bytes) -> JwtKey:
    try:
        loaded: Any = (
            x509.load_pem_x509_certificate(pem).public_key()
            if b"BEGIN CERTIFICATE" in pem
            else serialization.load_pem_public_key(pem)
        )
    except ValueError:
        raise ValueError("SESSIONS_JWT_PUBLIC_KEY_FILE holds no PEM public key") from None
    if isinstance(loaded, rsa.RSAPublicKey):
        if loaded.key_size < MIN_RSA_BITS:
            raise ValueError(f"SESSIONS_JWT_PUBLIC_KEY_FILE: RSA keys need {MIN_RSA_BITS} bits")
        return JwtKey(loaded, "RS256")
    if isinstance(loaded, ec.EllipticCurvePublicKey) and isinstance(loaded.curve, ec.SECP256R1):
        return JwtKey(loaded, "ES256")
    raise ValueError("SESSIONS_JWT_PUBLIC_KEY_FILE must hold an RSA or a P-256 public key")


def jwt_key(settings: Settings) -> JwtKey:
    """The key configured for token mode; refuses a missing, ambiguous or weak one."""
    secret = settings.jwt_secret or None
    key_file = settings.jwt_public_key_file
    if (secret is None) == (key_file is None):
        raise ValueError(
            "SESSIONS_AUTH=jwt needs exactly one of SESSIONS_JWT_SECRET "
            "and SESSIONS_JWT_PUBLIC_KEY_FILE"
        )
    if secret is not None:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"SESSIONS_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return JwtKey(secret, "HS256")
    assert key_file is not None
    return _public_key(key_file.read_bytes())


class JwtAuthenticator:
    """Token mode: `authorization: Bearer <JWT>`; `sub` is the owner, `actor` the actor.

    The algorithm follows from the configured key alone, never from the token, so
    `alg: none` and an HS256 token keyed with the public key fail like any forged
    signature. `exp` and `sub` are required; `aud` and `iss` when configured. Every
    refusal reads the same to the caller; only the log says which check failed.
    """

    def __init__(
        self, key: JwtKey, *, audience: str | None, issuer: str | None, leeway: float
    ) -> None:
        self._key = key
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway

    @classmethod
    def from_settings(cls, settings: Settings) -> "JwtAuthenticator":
        return cls(
            jwt_key(settings),
            audience=settings.jwt_audience or None,
            issuer=settings.jwt_issuer or None,
            leeway=settings.jwt_leeway_seconds,
        )

    def authenticate(self, metadata: Metadata) -> Principal:
        scheme, _, token = (_metadata_value(metadata, "authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated()
        try:
            claims = jwt.decode(
                token.strip(),
                self._key.key,
                algorithms=[self._key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.PyJWTError as error:
            log.info("bearer token refused: %s", error)
            raise Unauthenticated() from None
        return _principal(claims)


def _principal(claims: dict[str, Any]) -> Principal:
    actor = claims.get("actor")
    try:
        if actor is not None and not isinstance(actor, str):
            raise Unauthenticated()
        return Principal(checked_owner(claims["sub"]), parse_actor(actor))
    except Unauthenticated:
        log.info("bearer token refused: unusable sub or actor claim")
        raise Unauthenticated() from None
