"""The `sessions-client` wheel builds, installs into a clean venv with only its declared
dependencies, and works from there against the real server."""

import asyncio
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from sessions_server.app import App

from tests.conftest import Owner

ROOT = Path(__file__).resolve().parent.parent
DECLARED = {"grpcio", "grpcio-status", "protobuf"}
# What those bring: grpcio-status the google.rpc messages it parses, grpcio its typing.
TRANSITIVE = {"googleapis-common-protos", "typing-extensions"}
INSTALLER = {"pip", "setuptools"}


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out],
        cwd=ROOT / "clients/python",
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("sessions_client-*.whl")
    return wheel


def install_in_fresh_venv(wheel: Path, venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin/python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", wheel], check=True, capture_output=True
    )
    return python


async def run(*command: str | Path) -> str:
    # The server under test shares this event loop: wait without blocking it.
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_wheel_installs_alone_and_talks_to_the_server(
    tmp_path: Path, server: App, owner: Owner
) -> None:
    wheel = await asyncio.to_thread(build_wheel, tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    for packaged in (
        "sessions_client/py.typed",
        "sessions_client/_generated/sessions/v1/sessions_pb2.pyi",
        "sessions_client/tools/__init__.py",
    ):
        assert packaged in names
    assert not [name for name in names if name.startswith("sessions_server")]
    [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
    requires = [
        line.removeprefix("Requires-Dist: ").split(">")[0].split("<")[0].split("=")[0]
        for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    assert set(requires) == DECLARED

    python = await asyncio.to_thread(install_in_fresh_venv, wheel, tmp_path / "venv")
    listed = json.loads(await run(python, "-m", "pip", "list", "--format", "json"))
    installed = {p["name"].lower().replace("_", "-") for p in listed} - INSTALLER
    assert installed == {"sessions-client"} | DECLARED | TRANSITIVE

    script = (
        "import asyncio, sys\n"
        "from sessions_client import SessionsClient\n"
        "from sessions_client.tools import TOOLS\n"
        "async def main():\n"
        "    async with SessionsClient(sys.argv[1], owner=sys.argv[2]) as client:\n"
        "        session = await client.create('from the wheel', 'demo@echo')\n"
        "        print(await client.send_text(session.id, 'installed and working'))\n"
        "asyncio.run(main())\n"
    )
    address = f"127.0.0.1:{server.port}"
    out = await run(python, "-c", script, address, owner.name)
    assert 'content: "installed and working"' in out
    listed_by_cli = await run(
        python.parent / "sessions", "--address", address, "--owner", owner.name, "list"
    )
    assert "from the wheel" in listed_by_cli
