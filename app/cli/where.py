"""Which database a command works on, and plain words when it is not ready.

Without `--data-dir`, `SWITCHBOARD_DATA_DIR` or `DATABASE_URL`, a command from
the directory where `make demo` runs finds the demo's data: the demo leaves a
note (`.switchboard/demo.json`) saying where its data dir is, and the CLI uses
it while that demo runs, or while the default data dir holds no database.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.config import Settings

DEFAULT_DATA_DIR = Path(".switchboard")
DEMO_NOTE = "demo.json"
DEMO_DATA_DIR = DEFAULT_DATA_DIR / "demo"
DB_FILE = "switchboard.db"


@dataclass(frozen=True)
class Where:
    """The settings a command uses, and a line saying why when it was not the plain default."""

    settings: Settings
    note: str | None = None


def write_demo_note(data_dir: Path, url: str) -> Path:
    """Left by `switchboard demo` so that commands run beside it find its data."""
    DEFAULT_DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DEFAULT_DATA_DIR / DEMO_NOTE
    path.write_text(json.dumps({"data_dir": str(data_dir.resolve()), "url": url, "pid": os.getpid()}))
    return path


def remove_demo_note() -> None:
    """Taken away by the demo that left it, when it stops: a stopped demo's data is no longer
    what commands run beside it should find first."""
    note = read_demo_note()
    if note is not None and note.get("pid") == os.getpid():
        (DEFAULT_DATA_DIR / DEMO_NOTE).unlink(missing_ok=True)


def read_demo_note() -> dict[str, Any] | None:
    try:
        note = json.loads((DEFAULT_DATA_DIR / DEMO_NOTE).read_text())
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) and isinstance(note.get("data_dir"), str) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve(data_dir: Path | None = None) -> Where:
    """Explicit choices win; otherwise a running (or the only existing) demo database."""
    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
        return Where(settings)
    if settings.database_url or "SWITCHBOARD_DATA_DIR" in os.environ:
        return Where(settings)
    note = read_demo_note()
    # A running demo first; then `make demo`'s data; a demo that has stopped only after both.
    noted = (Path(note["data_dir"]), _alive(note.get("pid"))) if note is not None else None
    candidates: list[tuple[Path, bool]] = [noted] if noted and noted[1] else []
    candidates.append((DEMO_DATA_DIR, False))
    if noted and not noted[1]:
        candidates.append(noted)
    default_exists = (settings.data_dir / DB_FILE).exists()
    for demo_dir, running in candidates:
        if not (demo_dir / DB_FILE).exists():
            continue
        if running or not default_exists:
            settings.data_dir = demo_dir
            _as_the_demo(settings, demo_dir)
            state = "the running demo's" if running else "the demo's"
            return Where(
                settings,
                f"using {state} database {_short(demo_dir / DB_FILE)} "
                "(--data-dir DIR, SWITCHBOARD_DATA_DIR or DATABASE_URL to use another)",
            )
    return Where(settings)


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite file the settings name (DATABASE_URL's, else the data dir's); None for another
    database. Opening a file that is not there creates it empty, so a command that only reads
    looks first."""
    if not settings.database_url:
        return settings.data_dir / DB_FILE
    from sqlalchemy.engine import make_url

    try:
        url = make_url(settings.database_url)
    except Exception:
        return None
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:") or url.query:
        return None
    return Path(url.database)


def _as_the_demo(settings: Settings, demo_dir: Path) -> None:
    """Work on a demo's data the way the demo does: with the key it keeps for its own stored
    credentials (unless one is set) and with loopback reach, where its simulators answer."""
    key_file = demo_dir / "secret-key"
    if not settings.secret_key and key_file.is_file():
        settings.secret_key = key_file.read_text().strip() or None
    settings.allow_private_network = True


def _short(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe(url: str) -> str:
    """A database URL as people read it, without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def missing_database(exc: BaseException) -> str | None:
    """The name in PostgreSQL's 'database "NAME" does not exist' (the server is there, the
    database not yet), else None."""
    import re

    found = re.search(r'database "([^"]+)" does not exist', str(exc))
    return found.group(1) if found else None


def unreachable_database(exc: BaseException) -> str | None:
    """The first line of a database server's refusal to connect (down, a wrong host or port, or
    a sign-in it refused), with what to check, else None."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    text = str(getattr(exc, "orig", exc))
    signs = (
        "connection refused",
        "could not connect",
        "connection failed",
        "could not translate host",
        "timeout expired",
    )
    if not any(sign in text.lower() for sign in signs):
        return None
    first = next((line.strip() for line in text.splitlines() if line.strip()), text)
    refused = ("password authentication failed", "no password supplied", "role", "pg_hba.conf")
    if any(sign in text.lower() for sign in refused):  # the server answered: it refused the sign-in
        return f"{first} (check the user and password in DATABASE_URL)"
    return f"{first} (is its server running, and are the host and port in DATABASE_URL right?)"


def missing_table(exc: BaseException) -> bool:
    """True for SQLite's "no such table" and PostgreSQL's undefined table."""
    text = str(exc).lower()
    return (
        "no such table" in text
        or "undefinedtable" in type(getattr(exc, "orig", exc)).__name__.lower()
        or ("relation" in text and "does not exist" in text)
    )
