"""LiteLLM proxy as a baseline: the generic LLM gateway a platform team would
otherwise put in front of its models.

On first use `litellm[proxy]` is installed from PyPI into its own virtual
environment, `bench/.litellm-venv` (ignored by git, kept for later runs; about two
minutes here). The proxy is configured with one OpenAI-compatible model pointing
at the benchmark's upstream, started on a free 127.0.0.1 port, and stopped after
use. Callers stream through it with the OpenAI protocol, exactly as they stream
straight from the upstream. When it cannot be installed or started here, the
context yields an `Unavailable` whose reason the table prints in its column.
"""

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import child_process
from tests.support.processes import free_port

VENV = Path(__file__).parent / ".litellm-venv"
REQUIREMENT = "litellm[proxy]>=1.70,<2"
MODEL = "bench-model"
"""The model name callers ask the proxy for."""

INSTALL_SECONDS = 600
START_SECONDS = 180

# No network beyond the package registries here: keep LiteLLM from fetching its
# model price list or sending telemetry.
ENVIRONMENT = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_LOG": "ERROR",
}


@dataclass(frozen=True)
class Unavailable:
    """LiteLLM could not be measured here, and why."""

    reason: str


@dataclass(frozen=True)
class Proxy:
    base_url: str
    """OpenAI-compatible base URL (ends in /v1)."""
    model: str
    api_key: str
    """Sent as `Authorization: Bearer …`: the proxy's master key."""


def _last_line(output: bytes | str | None) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else output or ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def install() -> Path | Unavailable:
    """The `litellm` command, installed first when missing (blocking)."""
    stamp = VENV / ".installed"
    executable = VENV / "bin" / "litellm"
    if stamp.exists() and stamp.read_text() == REQUIREMENT and executable.exists():
        return executable
    shutil.rmtree(VENV, ignore_errors=True)
    print(f"installing {REQUIREMENT} into {VENV} (first run only)…", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", REQUIREMENT],
    ]
    for step in steps:
        try:
            subprocess.run(step, check=True, capture_output=True, timeout=INSTALL_SECONDS)
        except subprocess.CalledProcessError as error:
            shutil.rmtree(VENV, ignore_errors=True)
            return Unavailable(f"installing {REQUIREMENT} failed: {_last_line(error.stderr)}")
        except (subprocess.TimeoutExpired, OSError) as error:
            shutil.rmtree(VENV, ignore_errors=True)
            return Unavailable(f"installing {REQUIREMENT} failed: {error}")
    stamp.write_text(REQUIREMENT)
    return executable


def _config(upstream: str) -> str:
    """The proxy's config (JSON is YAML): one model, the upstream, nothing else."""
    return json.dumps(
        {
            "model_list": [
                {
                    "model_name": MODEL,
                    "litellm_params": {
                        "model": f"openai/{MODEL}",
                        "api_base": upstream,
                        "api_key": "unused",
                    },
                }
            ],
            "litellm_settings": {"telemetry": False, "drop_params": True},
        }
    )


@asynccontextmanager
async def litellm_proxy(upstream: str) -> AsyncIterator[Proxy | Unavailable]:
    """LiteLLM proxy in front of the OpenAI-compatible `upstream` base URL, or why not."""
    executable = await asyncio.to_thread(install)
    if isinstance(executable, Unavailable):
        yield executable
        return
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="litellm-") as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(_config(upstream))
        command = [str(executable), "--config", str(config), "--host", "127.0.0.1"]
        # With a master key, as in any real deployment (it refuses to start without).
        api_key = f"sk-{secrets.token_hex(16)}"
        env = {**ENVIRONMENT, "LITELLM_MASTER_KEY": api_key}
        async with httpx.AsyncClient() as client, AsyncExitStack() as stack:

            async def ready() -> bool:
                try:
                    return (await client.get(f"{base}/health/liveliness")).is_success
                except httpx.TransportError:
                    return False

            try:
                await stack.enter_async_context(
                    child_process([*command, "--port", str(port)], ready, env, START_SECONDS)
                )
            except RuntimeError as error:
                yield Unavailable(f"LiteLLM proxy did not start: {_last_line(str(error))}")
                return
            yield Proxy(f"{base}/v1", MODEL, api_key)
