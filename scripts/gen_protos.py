"""Regenerates the Python code of the contract and moves it into our namespace.

`buf generate` writes modules that import each other as `sessions.v1`; a generic
top-level name like that would collide in a caller's environment, so the imports
are rewritten to `sessions_client._generated.sessions.v1`.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "clients/python/src/sessions_client/_generated"
PACKAGE = "sessions_client._generated"
IMPORT = re.compile(r"^(from|import) sessions\.v1\b", re.MULTILINE)
MODULE_NAME = re.compile(r"'sessions\.v1\.sessions_pb2'")


def main() -> None:
    buf = sys.argv[1] if len(sys.argv) > 1 else "buf"
    subprocess.run([buf, "generate"], cwd=ROOT, check=True, stderr=subprocess.DEVNULL)
    for path in sorted(GENERATED.rglob("*.py*")):
        text = IMPORT.sub(rf"\1 {PACKAGE}.sessions.v1", path.read_text())
        text = MODULE_NAME.sub(f"'{PACKAGE}.sessions.v1.sessions_pb2'", text)
        path.write_text(text)
    for folder in [GENERATED, *(p for p in GENERATED.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()


if __name__ == "__main__":
    main()
