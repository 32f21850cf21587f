"""The endpoint registry on its own: reading the TOML file and resolving model specs.

Create's tests cover resolution through the server with the test registry; these
cover registries that the test server does not have (another default, several
endpoints offering models, mistakes in the file).
"""

from pathlib import Path

import pytest
from sessions_server.endpoints import Registry
from sessions_server.errors import InvalidArgument, ModelUnknown

REGISTRY = """
[endpoints.local]
url = "http://127.0.0.1:11434/v1/"
models = ["llama3.2", "qwen2.5"]
default = true
api_key_env = "TEST_ENDPOINTS_LOCAL_KEY"
headers = { "X-Team" = "core" }
params = { max_tokens = 1024 }

[endpoints.open]
url = "http://127.0.0.1:8000/v1"

[endpoints.private]
url = "http://127.0.0.1:9000/v1"
models = ["secret-model"]
owners = ["alice"]
"""


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    path = tmp_path / "endpoints.toml"
    path.write_text(REGISTRY)
    return Registry.from_file(path)


def _resolve(registry: Registry, spec: str, owner: str = "bob") -> tuple[str, str]:
    resolved = registry.resolve(spec, owner)
    return resolved.endpoint.name, resolved.model


def test_bare_model_goes_to_the_endpoint_listing_it(registry: Registry) -> None:
    assert _resolve(registry, "qwen2.5") == ("local", "qwen2.5")
    assert _resolve(registry, "secret-model", "alice") == ("private", "secret-model")


def test_bare_model_nobody_lists_goes_to_the_default_only_if_it_offers_it(
    registry: Registry,
) -> None:
    # The default lists its models, so it takes no others; echo is no longer default.
    with pytest.raises(ModelUnknown):
        registry.resolve("mistral", "bob")
    assert _resolve(registry, "mistral@open") == ("open", "mistral")
    assert _resolve(registry, "mistral@echo") == ("echo", "mistral")


def test_allow_listed_endpoint_is_unknown_to_other_owners(registry: Registry) -> None:
    with pytest.raises(ModelUnknown) as hidden:
        registry.resolve("secret-model@private", "bob")
    with pytest.raises(ModelUnknown) as missing:
        registry.resolve("secret-model@absent", "bob")
    assert hidden.value.message == missing.value.message
    # A bare model of the hidden endpoint is not routed there either.
    with pytest.raises(ModelUnknown):
        registry.resolve("secret-model", "bob")


def test_spec_is_trimmed_and_empty_model_is_invalid(registry: Registry) -> None:
    assert _resolve(registry, "  llama3.2@local ") == ("local", "llama3.2")
    for spec in ("", "  ", "@local"):
        with pytest.raises(InvalidArgument) as raised:
            registry.resolve(spec, "bob")
        assert type(raised.value) is InvalidArgument


def test_file_values_are_read_as_written(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = registry.get("local", "bob")
    assert local.url == "http://127.0.0.1:11434/v1"
    assert dict(local.params) == {"max_tokens": 1024}
    assert registry.url_of("local") == "http://127.0.0.1:11434/v1"
    assert registry.url_of("gone") == ""
    # The key is read when a call is made, so it rotates without a restart.
    monkeypatch.delenv("TEST_ENDPOINTS_LOCAL_KEY", raising=False)
    assert local.request_headers() == {"X-Team": "core"}
    monkeypatch.setenv("TEST_ENDPOINTS_LOCAL_KEY", "k1")
    assert local.request_headers()["Authorization"] == "Bearer k1"


def test_no_file_means_echo_only_as_the_default() -> None:
    registry = Registry.from_file(None)
    assert _resolve(registry, "anything") == ("echo", "anything")
    with pytest.raises(ModelUnknown):
        registry.resolve("anything@local", "bob")


@pytest.mark.parametrize(
    "document",
    [
        '[endpoints.echo]\nurl = "http://x"\n',
        '[endpoints.a]\nurl = "http://a"\ndefault = true\n'
        '[endpoints.b]\nurl = "http://b"\ndefault = true\n',
        "[endpoints.a]\nmodels = []\n",
        '[endpoints.a]\nurl = "http://a"\nowners = "alice"\n',
        '[endpoints.a]\nurl = "http://a"\nmodels = "llama3.2"\n',
        '[endpoints.a]\nurl = "http://a"\ndefault = "yes"\n',
        '[endpoints.a]\nurl = "http://a"\nheaders = ["X-Team"]\n',
    ],
    ids=[
        "echo_reserved",
        "two_defaults",
        "no_url",
        "owners_string",
        "models_string",
        "default_string",
        "headers_list",
    ],
)
def test_mistakes_in_the_file_are_refused(tmp_path: Path, document: str) -> None:
    path = tmp_path / "endpoints.toml"
    path.write_text(document)
    with pytest.raises(ValueError, match=r"reserved|default|url|owners|models|headers"):
        Registry.from_file(path)
