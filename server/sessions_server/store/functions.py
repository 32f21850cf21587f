"""The stored functions, each in one file, `sql/<name>.sql`, in its current version.

A migration that creates or replaces a function runs `load(name)`. The numbers and
names that Python shares with them (roles, statuses, event types, the replies'
channel and lock space, the name limit) are written in Python once and put into
the text where it says `@NAME@` (a text constant must need no quoting). When a
function changes again, the migration that loaded the version being replaced must
keep it: copy that file beside the migration first, and have the migration read its
copy.
"""

from pathlib import Path

from sessions_server.models import EventType, MessageStatus, Role
from sessions_server.store.replies import REPLY_CHANNEL, REPLY_LOCK_SPACE
from sessions_server.validation import FORK_PREFIX, NAME_MAX_CHARS

_FOLDER = Path(__file__).with_name("sql")

CONSTANTS: dict[str, str] = {
    **{f"ROLE_{role.name}": str(int(role)) for role in Role},
    **{f"STATUS_{status.name}": str(int(status)) for status in MessageStatus},
    **{f"EVENT_{event.name}": str(int(event)) for event in EventType},
    "NAME_MAX_CHARS": str(NAME_MAX_CHARS),
    "FORK_PREFIX": FORK_PREFIX,
    "REPLY_CHANNEL": REPLY_CHANNEL,
    "REPLY_LOCK_SPACE": str(REPLY_LOCK_SPACE),
}


def load(name: str) -> str:
    """The `CREATE FUNCTION` statement of `name`, constants filled in."""
    text = (_FOLDER / f"{name}.sql").read_text()
    for key, value in CONSTANTS.items():
        text = text.replace(f"@{key}@", value)
    if "@" in text:
        raise ValueError(f"{name}.sql names a constant that is not defined")
    return text
