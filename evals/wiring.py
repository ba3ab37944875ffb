"""A Container for evaluations: a migrated database, a given model, the help desk answered in-process.

Evals drive the real services and pipelines; only the model and the systems'
transport are chosen here, so a figure measures the product, not a stand-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.llm.base import Model
from app.main import Container
from app.services.connections import add_connection

HELPDESK_URL = "http://helpdesk.sim"


def settings(db_url: str, data_dir: Path, **extra: Any) -> Settings:
    """Eval and test settings: a credentials key of their own and private reach (the simulators
    answer on loopback or in-process) unless `extra` says otherwise."""
    defaults = {
        "SWITCHBOARD_SECRET_KEY": "switchboard-evals-wiring-key",
        "SWITCHBOARD_ALLOW_PRIVATE_NETWORK": "1",
    }
    return Settings.model_validate(
        {**defaults, "DATABASE_URL": db_url, "SWITCHBOARD_DATA_DIR": str(data_dir), **extra}
    )


def container(
    db_url: str, data_dir: Path, model: Model | None = None, sim: Any = None, **extra: Any
) -> Container:
    """Migrated database, a 'helpdesk' connection answered in-process by `sim` (its simulator by default)."""
    if sim is None:
        from connectors.helpdesk.simulator import create_app

        sim = create_app()
    c = Container(
        settings(db_url, data_dir, **extra), model_override=model, transport=httpx.ASGITransport(app=sim)
    )
    c.db.upgrade()
    add_connection(
        c.db,
        c.box,
        name="helpdesk",
        kind="helpdesk",
        base_url=HELPDESK_URL,
        auth_type="zendesk_token",
        credentials={"email": "switchboard@northwind.example", "token": "s3cr3t-helpdesk-token"},
        owner="ops",
    )
    return c
