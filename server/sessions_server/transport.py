"""The listening port: plaintext, TLS or mutual TLS, and the limits every call meets.

Limits are set explicitly rather than left to gRPC's defaults so that a deployment
can see and change them (OWASP API4, unrestricted resource consumption).
"""

from typing import Any

import grpc

from sessions_server.config import Settings


def server_options(settings: Settings) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", settings.max_receive_bytes),
        # Soft and hard limit alike: past the soft one gRPC refuses only some calls.
        ("grpc.max_metadata_size", settings.max_metadata_bytes),
        ("grpc.absolute_max_metadata_size", settings.max_metadata_bytes),
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        ("grpc.so_reuseport", 0),
    ]


def credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials when a certificate is configured; None for plaintext.

    With a client CA, every client must present a certificate it signed (mTLS).
    A partial configuration refuses to start rather than fall back to plaintext.
    """
    cert, key, client_ca = (
        settings.tls_cert_file,
        settings.tls_key_file,
        settings.tls_client_ca_file,
    )
    if cert is None and key is None:
        if client_ca is not None:
            raise ValueError(
                "SESSIONS_TLS_CLIENT_CA_FILE needs SESSIONS_TLS_CERT_FILE and _KEY_FILE"
            )
        return None
    if cert is None or key is None:
        raise ValueError("TLS needs both SESSIONS_TLS_CERT_FILE and SESSIONS_TLS_KEY_FILE")
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca is not None else None,
        require_client_auth=client_ca is not None,
    )


def add_port(server: grpc.aio.Server, listen: str, tls: grpc.ServerCredentials | None) -> int:
    """Binds `listen` over TLS when `tls` is given, else plaintext; returns the port."""
    if tls is None:
        return server.add_insecure_port(listen)
    return server.add_secure_port(listen, tls)
