"""Which demo's data commands use: a running demo's, then `make demo`'s, and a stopped demo's
only after both. A demo takes its note away when it stops. (A stopped demo's note used to win,
so `switchboard tokens create` beside a running `make demo` made a token in the wrong database.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import where


def test_a_stopped_demos_note_does_not_win_over_the_make_demo_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DATABASE_URL", "SWITCHBOARD_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    make_demo = tmp_path / ".switchboard" / "demo"
    make_demo.mkdir(parents=True)
    (make_demo / "switchboard.db").write_bytes(b"")
    other = tmp_path / "other-demo"
    other.mkdir()
    (other / "switchboard.db").write_bytes(b"")
    where.write_demo_note(other, "http://127.0.0.1:8138")
    # the other demo has exited: its note names a pid that no longer runs
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    note = where.read_demo_note()
    assert note is not None
    (tmp_path / ".switchboard" / "demo.json").write_text(
        (tmp_path / ".switchboard" / "demo.json").read_text().replace(str(note["pid"]), str(dead.pid))
    )
    chosen = where.resolve()
    assert chosen.settings.data_dir.resolve() == make_demo.resolve(), chosen.note


def test_a_demo_takes_its_own_note_away_and_no_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    where.write_demo_note(tmp_path, "http://127.0.0.1:8137")
    where.remove_demo_note()
    assert where.read_demo_note() is None
    where.write_demo_note(tmp_path, "http://127.0.0.1:8137")
    path = tmp_path / ".switchboard" / "demo.json"
    path.write_text(path.read_text().replace(f'"pid": {where.os.getpid()}', '"pid": 1'))
    where.remove_demo_note()  # another demo's note stays
    assert where.read_demo_note() is not None
