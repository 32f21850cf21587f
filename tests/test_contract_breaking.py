"""`buf breaking` guards the contract: a changed field number fails, an added field passes.

CI runs the same check against the previous commit (scripts/check_breaking.sh);
these tests show on a copy of the contract that the check bites.
"""

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUF = ROOT / "node_modules/.bin/buf"
PROTO = "protos/sessions/v1/sessions.proto"


def copy_of_contract(folder: Path) -> Path:
    shutil.copytree(ROOT / "protos", folder / "protos")
    shutil.copy(ROOT / "buf.yaml", folder / "buf.yaml")
    return folder / PROTO


def breaking(changed: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUF, "breaking", changed, "--against", ROOT, "--error-format", "text"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def edit(proto: Path, pattern: str, replacement: str) -> None:
    text, count = re.subn(pattern, replacement, proto.read_text(), count=1, flags=re.MULTILINE)
    assert count == 1, f"{pattern!r} not found in the contract"
    proto.write_text(text)


def test_changed_field_number_breaks_the_contract(tmp_path: Path) -> None:
    proto = copy_of_contract(tmp_path)
    edit(proto, r"^(  string name) = 2;", r"\1 = 20;")
    result = breaking(tmp_path)
    assert result.returncode != 0
    assert 'present field "2" with name "name" on message "Session" was deleted' in result.stdout


def test_renamed_field_breaks_the_contract(tmp_path: Path) -> None:
    proto = copy_of_contract(tmp_path)
    edit(proto, r"^  string session_id = 1;", "  string session = 1;")
    result = breaking(tmp_path)
    assert result.returncode != 0
    assert 'changed name from "session_id" to "session"' in result.stdout


def test_added_field_keeps_the_contract(tmp_path: Path) -> None:
    proto = copy_of_contract(tmp_path)
    edit(proto, r"^(  map<string, string> labels = 14;)", r"\1\n  string note = 15;")
    result = breaking(tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
