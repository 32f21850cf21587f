"""Bearer tokens as an identity provider would mint them, and the forgeries an
attacker would try: `alg: none`, and HS256 keyed with the server's public key."""

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "sessions.test"
ISSUER = "https://idp.test"

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class Issuer:
    """Signs tokens with one key, with the audience and issuer the server expects."""

    key: Any
    algorithm: str
    audience: str | None = AUDIENCE
    issuer: str | None = ISSUER

    def claims(self, subject: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + 300}
        if self.audience is not None:
            claims["aud"] = self.audience
        if self.issuer is not None:
            claims["iss"] = self.issuer
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, subject: str, **overrides: Any) -> str:
        """A token for `subject`; an override of None leaves that claim out."""
        return jwt.encode(self.claims(subject, **overrides), self.key, algorithm=self.algorithm)

    def md(self, subject: str, **overrides: Any) -> Metadata:
        return bearer(self.token(subject, **overrides))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def unsigned(claims: dict[str, Any]) -> str:
    """`alg: none`: claims with no signature at all."""
    return _segments({"alg": "none", "typ": "JWT"}, claims) + "."


def hs256(secret: bytes, claims: dict[str, Any]) -> str:
    """HS256 with any bytes as the secret (PyJWT refuses a PEM key as an HMAC secret,
    an attacker's own code does not)."""
    signing_input = _segments({"alg": "HS256", "typ": "JWT"}, claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"
