"""Settings of the service, read from `SESSIONS_*` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
DEFAULT_DATABASE_ROLE = "sessions_app"
# A plain lower-case SQL identifier (or empty): safe to write into DDL unquoted,
# short enough to take the maintenance suffix within PostgreSQL's 63 characters.
ROLE_PATTERN = r"^([a-z_][a-z0-9_]{0,50})?$"


def maintenance_role(role: str) -> str:
    """The role of the cross-owner event prune that goes with service role `role`."""
    return f"{role}_maintenance" if role else ""


def listen_host(listen: str) -> str:
    """The host part of a `host:port` listen address."""
    return listen.rsplit(":", 1)[0]


class Settings(BaseSettings):
    """Everything that differs between deployments.

    The names are fixed: deployment tooling sets them.
    """

    model_config = SettingsConfigDict(env_prefix="SESSIONS_", frozen=True)

    database_url: str | None = None
    """`postgresql+asyncpg://…`; unset starts an embedded PostgreSQL."""

    data_dir: Path | None = None
    """Data folder of the embedded PostgreSQL; unset = the user's data directory."""

    listen: str = "127.0.0.1:50051"
    """host:port of the gRPC server (port 0 picks a free one)."""

    auth: Literal["jwt", "insecure"] | None = None
    """`insecure` trusts x-owner / x-actor metadata; unset = insecure on loopback, else jwt."""

    jwt_secret: str | None = None
    """HS256 secret for verifying bearer tokens."""

    jwt_public_key_file: Path | None = None
    """RS256 (RSA) / ES256 (P-256) public key, PEM, for verifying bearer tokens."""

    jwt_audience: str | None = None
    """When set, tokens must carry this `aud`."""

    jwt_issuer: str | None = None
    """When set, tokens must carry this `iss`."""

    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    """Clock skew tolerated when checking `exp`, `nbf` and `iat`."""

    endpoints_file: Path | None = None
    """TOML registry of model endpoints; the built-in `echo` is always present."""

    metrics_port: int = 0
    """Prometheus metrics port; 0 = off."""

    tls_cert_file: Path | None = None
    """Server certificate chain (PEM); with `tls_key_file`, the port speaks TLS only."""

    tls_key_file: Path | None = None
    """Private key (PEM) of `tls_cert_file`."""

    tls_client_ca_file: Path | None = None
    """When set, clients must present a certificate signed by this CA (mTLS)."""

    max_message_bytes: int = Field(default=1024 * 1024, gt=0)
    """Largest Send content, in UTF-8 bytes."""

    max_receive_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    """Largest gRPC request the server accepts (larger ones: RESOURCE_EXHAUSTED)."""

    max_metadata_bytes: int = Field(default=16 * 1024, gt=0)
    """Largest request metadata (headers, the bearer token included)."""

    max_concurrent_streams: int = Field(default=1000, gt=0)
    """Calls one client connection may have open at once. Past it a call waits for a
    free stream, or in a burst is refused UNAVAILABLE (HTTP/2 REFUSED_STREAM: it never
    ran, so a retry is safe)."""

    max_concurrent_rpcs: int = Field(default=10_000, gt=0)
    """Calls the whole server runs at once; more are refused RESOURCE_EXHAUSTED."""

    statement_timeout_ms: int = Field(default=10_000, gt=0)
    """PostgreSQL statement_timeout of every connection."""

    database_connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds to open a database connection (at start, for the pool, for the
    listener) before the database counts as unreachable."""

    database_role: str = Field(default=DEFAULT_DATABASE_ROLE, pattern=ROLE_PATTERN)
    """Role the service acts as in PostgreSQL (row-level security applies to it);
    empty = the login user itself. Migrations create it and run as the login user."""

    db_pool_size: int = Field(default=20, gt=0)

    db_pool_timeout: float = Field(default=10.0, gt=0)
    """Seconds a call waits for a free pooled connection before it is refused
    UNAVAILABLE `DATABASE_UNAVAILABLE`."""

    shutdown_grace: float = Field(default=10.0, ge=0)
    """Seconds streaming calls get to finish after SIGTERM."""

    events_retention: float = Field(default=24 * 3600.0, gt=0)
    """Seconds Watch events are kept for resuming."""

    events_prune_interval: float = Field(default=300.0, gt=0)
    """Seconds between two deletions of expired events (by each replica)."""

    upstream_connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds to open a connection to a model endpoint."""

    upstream_first_token_timeout: float = Field(default=120.0, gt=0)
    """Seconds from sending a request to its first token. Generous: servers queue
    requests (llama.cpp serves one at a time) before they start answering."""

    upstream_idle_timeout: float = Field(default=60.0, gt=0)
    """Longest silence between two events of a reply once it has begun."""

    upstream_total_timeout: float = Field(default=600.0, gt=0)
    """Longest whole reply, retries included."""

    upstream_retry_delay: float = Field(default=0.5, ge=0)
    """Base of the jittered exponential backoff between attempts (doubling each time)."""

    lease_seconds: float = Field(default=30.0, gt=0)
    """How long a Send's hold on its session lasts unless renewed; a crashed
    process's hold lapses after this."""

    context_max_messages: int = Field(default=200, gt=0)
    """Most stored messages sent to the model with a Send (newest kept)."""

    context_max_bytes: int = Field(default=1024 * 1024, gt=0)
    """Most UTF-8 bytes of stored messages sent with a Send (newest kept; the new
    message itself always goes)."""

    reply_flush_ms: int = Field(default=200, ge=0)
    """Milliseconds between two appends of a streaming reply's text to the store
    (what a crash loses, and how far an Attach on another replica trails); 0 stores
    the reply once, at its end."""

    max_concurrent_sends_per_owner: int = Field(default=8, gt=0)
    """Sends one owner may stream at once, across all replicas."""

    def auth_mode(self) -> Literal["jwt", "insecure"]:
        if self.auth is not None:
            return self.auth
        return "insecure" if listen_host(self.listen) in LOOPBACK_HOSTS else "jwt"
