"""Settings of the service, read from `SESSIONS_*` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


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
    """RS256 / ES256 public key (PEM) for verifying bearer tokens."""

    endpoints_file: Path | None = None
    """TOML registry of model endpoints; the built-in `echo` is always present."""

    metrics_port: int = 0
    """Prometheus metrics port; 0 = off."""

    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    """When set, clients must present a certificate signed by this CA (mTLS)."""

    max_message_bytes: int = Field(default=1024 * 1024, gt=0)
    """Largest Send content, in UTF-8 bytes."""

    max_receive_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    """Largest gRPC request the server accepts."""

    statement_timeout_ms: int = Field(default=10_000, gt=0)
    """PostgreSQL statement_timeout of every connection."""

    db_pool_size: int = Field(default=20, gt=0)

    shutdown_grace: float = Field(default=10.0, ge=0)
    """Seconds streaming calls get to finish after SIGTERM."""

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

    upstream_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    """What carries the upstream client's requests: aiohttp (measured faster by
    `make bench`) or httpx's own transport."""

    lease_seconds: float = Field(default=30.0, gt=0)
    """How long a Send's hold on its session lasts unless renewed; a crashed
    process's hold lapses after this."""

    context_max_messages: int = Field(default=200, gt=0)
    """Most stored messages sent to the model with a Send (newest kept)."""

    context_max_bytes: int = Field(default=1024 * 1024, gt=0)
    """Most UTF-8 bytes of stored messages sent with a Send (newest kept; the new
    message itself always goes)."""

    max_concurrent_sends_per_owner: int = Field(default=8, gt=0)
    """Sends one owner may stream at once, across all replicas."""

    def auth_mode(self) -> Literal["jwt", "insecure"]:
        if self.auth is not None:
            return self.auth
        return "insecure" if listen_host(self.listen) in LOOPBACK_HOSTS else "jwt"
