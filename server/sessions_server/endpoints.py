"""The endpoint registry: which model endpoints exist and who may use them.

Read from the TOML file named by `SESSIONS_ENDPOINTS_FILE`:

    [endpoints.local]                  # used as "model@local"
    url = "http://127.0.0.1:11434/v1"  # OpenAI-compatible base URL
    models = ["llama3.2"]              # optional: only these models (none = any)
    default = true                     # optional: where unmatched bare models go
    api_key_env = "LOCAL_API_KEY"      # optional: Authorization: Bearer $LOCAL_API_KEY
    headers = { "X-Team" = "core" }    # optional extra headers
    owners = ["alice"]                 # optional allow-list of owners
    params = { max_tokens = 1024 }     # optional defaults sent with every request

Sessions store only the endpoint's name; every call resolves it here afresh, so
keys and URLs change without touching stored sessions. The built-in `echo`
endpoint is always present and streams the user's words back.
"""

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessions_server import validation
from sessions_server.errors import InvalidArgument, ModelUnknown

ECHO = "echo"
ECHO_URL = "echo:"


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    models: tuple[str, ...] = ()
    default: bool = False
    api_key_env: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    owners: frozenset[str] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_echo(self) -> bool:
        return self.url == ECHO_URL

    def offers(self, model: str) -> bool:
        return not self.models or model in self.models

    def allows(self, owner: str) -> bool:
        return self.owners is None or owner in self.owners

    def request_headers(self) -> dict[str, str]:
        """Headers for a call, with the API key read from the environment now."""
        headers = dict(self.headers)
        if self.api_key_env and (key := os.environ.get(self.api_key_env)):
            headers["Authorization"] = f"Bearer {key}"
        return headers


@dataclass(frozen=True)
class Resolved:
    endpoint: Endpoint
    model: str


class Registry:
    def __init__(self, endpoints: list[Endpoint]) -> None:
        names = [e.name for e in endpoints]
        if ECHO in names:
            raise ValueError(f"endpoint name {ECHO!r} is reserved for the built-in endpoint")
        if len(set(names)) != len(names):
            raise ValueError("endpoint names must be unique")
        defaults = [e for e in endpoints if e.default]
        if len(defaults) > 1:
            raise ValueError("at most one endpoint may be the default")
        echo = Endpoint(name=ECHO, url=ECHO_URL, default=not defaults)
        self._endpoints = {e.name: e for e in [*endpoints, echo]}

    @classmethod
    def from_file(cls, path: Path | None) -> "Registry":
        if path is None:
            return cls([])
        with path.open("rb") as file:
            document = tomllib.load(file)
        return cls(
            [_parse_endpoint(name, entry) for name, entry in document.get("endpoints", {}).items()]
        )

    def resolve(self, spec: str, owner: str) -> Resolved:
        """The endpoint and model named by "model" or "model@endpoint" for this owner."""
        spec = validation.one_line(spec, "model", max_chars=validation.MODEL_MAX_CHARS).strip()
        model, at, endpoint_name = spec.partition("@")
        if not model:
            raise InvalidArgument.field("model", "must not be empty")
        if at:
            endpoint = self.get(endpoint_name, owner)
            if not endpoint.offers(model):
                raise ModelUnknown()
            return Resolved(endpoint, model)
        usable = [e for e in self._endpoints.values() if e.allows(owner)]
        for endpoint in usable:
            if endpoint.models and model in endpoint.models:
                return Resolved(endpoint, model)
        for endpoint in usable:
            if endpoint.default and endpoint.offers(model):
                return Resolved(endpoint, model)
        raise ModelUnknown()

    def url_of(self, name: str) -> str:
        """The base URL of an endpoint, or "" when the registry no longer has it."""
        endpoint = self._endpoints.get(name)
        return endpoint.url if endpoint is not None else ""

    def usable(self, owner: str) -> list[str]:
        """The names of the endpoints this owner may use."""
        return [name for name, endpoint in self._endpoints.items() if endpoint.allows(owner)]

    def get(self, name: str, owner: str) -> Endpoint:
        """The endpoint of that name, if this owner may use it."""
        endpoint = self._endpoints.get(name)
        if endpoint is None or not endpoint.allows(owner):
            raise ModelUnknown()
        return endpoint


def _strings(name: str, entry: dict[str, Any], key: str) -> tuple[str, ...] | None:
    """A list of strings from the file; a bare string would read as its letters."""
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"endpoint {name!r}: {key} must be a list of strings")
    return tuple(value)


def _table(name: str, entry: dict[str, Any], key: str) -> dict[str, Any]:
    value = entry.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"endpoint {name!r}: {key} must be a table")
    return value


def _parse_endpoint(name: str, entry: dict[str, Any]) -> Endpoint:
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        raise ValueError(f"endpoint {name!r}: url is required")
    if not isinstance(entry.get("default", False), bool):
        raise ValueError(f"endpoint {name!r}: default must be true or false")
    if not isinstance(entry.get("api_key_env", ""), str):
        raise ValueError(f"endpoint {name!r}: api_key_env must be a string")
    owners = _strings(name, entry, "owners")
    return Endpoint(
        name=name,
        url=entry["url"].rstrip("/"),
        models=_strings(name, entry, "models") or (),
        default=entry.get("default", False),
        api_key_env=entry.get("api_key_env"),
        headers={str(k): str(v) for k, v in _table(name, entry, "headers").items()},
        owners=frozenset(owners) if owners is not None else None,
        params=_table(name, entry, "params"),
    )
