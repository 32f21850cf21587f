"""`buf breaking` guards the contract: a changed field number fails, an added field passes.

CI runs the same check against every version of the contract in the history
(scripts/check_breaking.sh); these tests show on a copy of the contract that the
check bites, and that a break made a few commits back cannot land behind a later
commit.
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


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_a_break_made_commits_ago_fails_the_script_that_ci_runs(tmp_path: Path) -> None:
    proto = copy_of_contract(tmp_path)
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/check_breaking.sh", tmp_path / "scripts")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "the contract")
    edit(proto, r"^(  string name) = 2;", r"\1 = 20;")
    git(tmp_path, "commit", "-qam", "a break")
    (tmp_path / "notes.txt").write_text("later\n")
    git(tmp_path, "add", "notes.txt")
    git(tmp_path, "commit", "-qm", "a later commit that leaves the contract alone")

    result = subprocess.run(
        [tmp_path / "scripts/check_breaking.sh", BUF], capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert 'present field "2" with name "name" on message "Session" was deleted' in result.stdout
