"""The Swagger Petstore document imported as a connection and used by the agent in chat:
a read runs at once and the model sees its answer; a write waits for a person, then
lands in the system exactly once, authenticated with the connection's api_key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.llm.scripted import ScriptedModel, text, tool_use
from app.main import Container
from app.services import approvals, chat
from app.services.auth import Principal
from app.services.connections import add_connection
from app.services.errors import Forbidden
from app.services.views import run_view
from app.store.tables import Connection
from connectors.openapi.petstore_simulator import PetstoreState, create_app
from tests.support.app import HostRouter, settings

API_KEY = "special-key"
ASKER = Principal("sam", "operator")
APPROVER = Principal("pat", "approver")
NEW_PET = {
    "name": "Clementine",
    "category": {"id": 2, "name": "Cats"},
    "photoUrls": ["https://images.example/pets/clementine.jpg"],
    "tags": [{"id": 200, "name": "kitten"}],
    "status": "available",
}


def petstore_container(db_url: str, data_dir: Path, model: ScriptedModel, state: PetstoreState) -> Container:
    """A container whose only connection is the Petstore, by its OpenAPI document."""
    sim = create_app(state, api_key=API_KEY)  # the simulator refuses /pet calls without the key
    c = Container(
        settings(db_url, data_dir), model_override=model, transport=HostRouter({"petstore.sim": sim})
    )
    c.db.upgrade()
    add_connection(
        c.db,
        c.box,
        name="petstore",
        kind="openapi",
        base_url="http://petstore.sim",
        auth_type="api_key",
        credentials={"key": API_KEY},
        config={"spec": "petstore3", "header": "api_key"},
        owner="ops",
    )
    return c


def named(state: PetstoreState, name: str) -> list[dict[str, Any]]:
    with state._lock:
        return [p for p in state.pets.values() if p.get("name") == name]


@pytest.fixture
async def rig(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    state = PetstoreState()
    model = ScriptedModel(
        [
            tool_use("petstore__get_pet_by_id", {"petId": 1}, call_id="read1"),
            tool_use("petstore__add_pet", {"body": NEW_PET}, call_id="write1"),
            text("Added Clementine next to Biscuit."),
        ]
    )
    c = petstore_container(db_url, tmp_path, model, state)
    yield c, model, state
    await c.pool.aclose()


async def test_petstore_read_runs_at_once_and_the_write_waits_for_approval(rig: Any) -> None:
    c, model, state = rig
    run_id, _ = chat.start_turn(c.db, "Look up pet 1, then add a kitten called Clementine", None, ASKER)
    await c.orchestrator.drain("w1")

    view = run_view(c.db, run_id)
    assert view["status"] == "waiting_approval", view["error"]
    # the document's operations were offered to the model as tools
    offered = {t.name for t in model.requests[0].tools}
    assert {"petstore__get_pet_by_id", "petstore__add_pet", "petstore__find_pets_by_status"} <= offered
    # the read ran without approval and the model saw the pet, fenced as untrusted data
    seen = model.requests[1].messages[-1]
    assert seen.role == "tool" and seen.tool_call_id == "read1" and not seen.is_error
    assert "Biscuit" in seen.content and '<untrusted_data source="petstore__get_pet_by_id">' in seen.content
    [read] = [s for s in view["steps"] if s["kind"] == "tool_call"]
    assert read["data"]["tool"] == "petstore__get_pet_by_id" and read["data"]["effect"] == "read"
    # the write is parked: an action waits, and the Petstore has no new pet and saw no POST
    [action] = view["actions"]
    assert (action["tool"], action["status"]) == ("petstore__add_pet", "pending")
    assert action["arguments"] == {"body": NEW_PET}
    assert named(state, "Clementine") == []
    assert not [r for r in state.requests if r["method"] == "POST"]
    assert len(model.requests) == 2  # the model is not asked again until a person decides

    with pytest.raises(Forbidden):  # four eyes: whoever asked in chat cannot approve it
        approvals.approve(c.db, action["id"], ASKER, c.pool.catalogue)
    approvals.approve(c.db, action["id"], APPROVER, c.pool.catalogue)
    await c.orchestrator.drain("w2")

    view = run_view(c.db, run_id)
    assert view["status"] == "succeeded", view["error"]
    assert view["result"] == {"answer": "Added Clementine next to Biscuit."}
    [done] = view["actions"]
    assert done["status"] == "succeeded" and done["attempts"] == 1
    [pet] = named(state, "Clementine")  # exactly once
    assert pet["category"] == {"id": 2, "name": "Cats"} and pet["status"] == "available"
    posts = [r for r in state.requests if r["method"] == "POST"]
    assert [r["path"] for r in posts] == ["/pet"]
    # the model read back what the Petstore answered to the write (the new pet's id)
    written = model.requests[-1].messages[-1]
    assert written.tool_call_id == "write1" and f'"id": {pet["id"]}' in written.content
    # every call carried the connection's key in the document's api_key header
    pet_calls = [r for r in state.requests if r["path"].startswith("/pet")]
    assert len(pet_calls) == 2 and all(r["api_key"] == API_KEY for r in pet_calls)


async def test_a_wrong_key_is_refused_and_reported_to_the_model(db_url: str, tmp_path: Path) -> None:
    """The header check above can fail: with another key the simulator answers 401."""
    state = PetstoreState()
    model = ScriptedModel([tool_use("petstore__get_pet_by_id", {"petId": 1}), text("I could not read it.")])
    c = petstore_container(db_url, tmp_path, model, state)
    with c.db.session() as s:
        row = s.query(Connection).filter_by(name="petstore").one()
        row.credentials = c.box.seal({"key": "not-the-key"})
    run_id, _ = chat.start_turn(c.db, "Look up pet 1", None, ASKER)
    await c.orchestrator.drain("w1")
    assert run_view(c.db, run_id)["status"] == "succeeded"
    seen = model.requests[1].messages[-1]
    assert seen.is_error and "401" in seen.content and "Biscuit" not in seen.content
    assert [r["api_key"] for r in state.requests] == ["not-the-key"]
    await c.pool.aclose()
