"""Tickets and records coming in: stored as items, each with a queued run.

Intake is idempotent on (system, external_id): one ticket of one system is one
item, whether it came through the API, a file, a webhook or a pull from the
help desk, and delivering it again gets the first run back, not a second
triage. A ticket sent through the API or a file names its help desk's ticket
id, so its system is that help desk (the one triage writes to). `again=True`
starts a new run on the same item, for when a person asks for a second triage.
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, insert, or_, select
from sqlalchemy.exc import IntegrityError

from app.agent.run import REQUESTER_UNKNOWN
from app.services import reruns
from app.store.db import Database
from app.store.direct import execute, prepared
from app.store.runs import audit
from app.store.tables import Action, Connection, Item, Run, new_id, utcnow
from app.text import digits
from tools.base import Catalogue

# Items that are themselves a person's request for a write. Any other ticket, record or event
# asks for nothing by itself, so whoever submitted it may approve what the agent proposes,
# except that a person who posted it (BY_PERSON below) asked for its money movements, final
# submissions and new payees; the gate applies four eyes to every other run (see RunContext).
REQUESTS = frozenset({("record", "refund")})


def delivered(kind: str, payload: dict[str, Any]) -> bool:
    return (kind, payload.get("kind")) not in REQUESTS


# Channels through which a person posts an item under their own name: the API and the web UI
# with their token, the CLI with the token it was given. Such an item is still not a request
# for every write the agent proposes from it, but it is the poster's request for the writes
# that commit the company for good, so the poster is recorded (`posted_by`) and the gate keeps
# them from approving those (RunContext.requester_of says which and why). Items that systems
# deliver (webhooks, a connector's pull, a workflow's event) have no poster.
BY_PERSON = frozenset({"api", "cli", "ui"})
# Who the CLI posts a file's items as when no token names anyone (a fresh data directory): a
# channel, not a person, so four eyes has nobody to hold against the poster. Such a run is marked
# as one whose poster nobody can name, and its money, final and payee writes want two approvers
# (`requester_unknown`), as for items posted before posters were recorded.
UNNAMED_POSTER = "cli"


def run_input(
    kind: str, payload: dict[str, Any], via: str, actor: str, desk: str | None = None
) -> dict[str, Any]:
    """A new run's input for an item that came in through `via`, submitted by `actor`.

    A ticket names its `system`: the help desk its ids belong to, whose tools its triage reads
    and writes with (another connection of the same kind is another help desk)."""
    data: dict[str, Any] = {kind: payload, "delivered": delivered(kind, payload)}
    if kind == "ticket":
        data["system"] = system_of(kind, via, desk or TICKET_SYSTEM)
    if via in BY_PERSON:
        data["posted_by"] = actor
        if via == "cli" and actor == UNNAMED_POSTER:
            data[REQUESTER_UNKNOWN] = "poster"
    return data


# The help desk whose ticket ids an API or file ticket's external_id names: triage's connection
# (`ticket_system`: this name, else the only help-desk connection there is).
TICKET_SYSTEM = "helpdesk"
# Channels rather than systems: what came through them belongs to the system above.
CHANNELS = ("api", "cli", "ui")


def ticket_system(db: Database) -> str:
    """The help desk that tickets posted through the API, CLI or web UI belong to: the connection
    named `helpdesk`, else the only connection of the help-desk kind (a desk added as `zendesk`).
    With several and none named `helpdesk`, `helpdesk`: triage then says no such connection.
    Remembered for a few seconds: tickets arrive many a second, connections are added rarely
    (adding one here forgets it at once; another process sees it within DESK_SECONDS)."""
    now = time.monotonic()
    kept = _desk_of.get(db.url)
    if kept is not None and kept[0] > now:
        return kept[1]
    with db.reading() as c:
        names = list(c.scalars(_DESKS))
    desk = names[0] if len(names) == 1 else TICKET_SYSTEM
    _desk_of[db.url] = (now + DESK_SECONDS, desk)
    return desk


def forget_ticket_system() -> None:
    _desk_of.clear()


DESK_SECONDS = 10.0
_desk_of: dict[str, tuple[float, str]] = {}
# Plain table INSERTs given every column, so the driver can be given them (app.store.direct).
_ADD_ITEM = prepared(insert(cast(Table, Item.__table__)))
_ADD_RUN = prepared(insert(cast(Table, Run.__table__)))
_NEW_RUN = {"attempts": 0, "retries": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
_DESKS = select(Connection.name).where(Connection.kind == "helpdesk").order_by(Connection.name)


def system_of(kind: str, source: str, desk: str = TICKET_SYSTEM) -> str:
    """The system an item's external_id belongs to; `desk`: the help desk of the channels."""
    return desk if kind == "ticket" and source in CHANNELS else source


def ticket_id_problem(
    catalogue: Catalogue, source: str, external_id: Any, desk: str = TICKET_SYSTEM
) -> str | None:
    """Why `external_id` cannot name a ticket of the help desk it belongs to, by that help desk's
    own `get_ticket` schema (Zendesk's ticket ids are integers), or None. Said at intake, so a
    ticket with an id its help desk cannot have is refused with the field named, rather than
    triaged into writes that no help desk takes. A help desk that is not connected says nothing."""
    tool = f"{system_of('ticket', source, desk)}__get_ticket"
    if external_id is None or tool not in catalogue:
        return None
    numeric = isinstance(external_id, str) and digits(external_id.strip())
    value = int(external_id) if numeric else external_id
    for error in catalogue.get(tool).validate({"ticket_id": value}):
        where, _, why = error.partition(": ")
        if where == "ticket_id":
            return f"external_id {external_id!r} is not a ticket id of {tool.split('__')[0]}: {why}"
    return None


def submit(
    db: Database,
    *,
    kind: str,
    run_kind: str,
    payload: dict[str, Any],
    source: str,
    actor: str,
    again: bool = False,
) -> tuple[str, bool]:
    """Returns (run id, created). created is False when the item was already known.

    With `again`, a known item gets a new run (created True) instead of its first one back.
    """
    external_id = payload.get("external_id")
    external_id = str(external_id) if external_id is not None else None
    desk = ticket_system(db) if kind == "ticket" and source in CHANNELS else TICKET_SYSTEM
    via, source = source, system_of(kind, source, desk)
    if external_id is not None:
        existing, cancelled = _existing_run(db, kind, source, external_id)
        # A cancelled run (a demo restart) left it undone; one that made writes first is not run
        # again unasked: a new run would propose them again, under keys no system can tell apart.
        if existing and (again or (cancelled and not _made_writes(db, existing))):
            return _rerun(db, existing, actor), True
        if existing:
            return existing, False
    try:
        item_id, run_id = new_id(), new_id()
        with db.transaction() as s:
            # Two plain INSERTs on a Connection: items arrive at the rate of a busy help desk,
            # and a Session's bookkeeping costs more than the rows.
            c, now = s.connection(), utcnow()
            execute(
                c,
                _ADD_ITEM,
                {
                    "id": item_id,
                    "kind": kind,
                    "source": source,
                    "external_id": external_id,
                    "payload": payload,
                    "created_at": now,
                },
            )
            execute(
                c,
                _ADD_RUN,
                {
                    **_NEW_RUN,
                    "id": run_id,
                    "kind": run_kind,
                    "item_id": item_id,
                    "input": run_input(kind, payload, via, actor, desk),
                    "created_by": actor,
                    "status": "queued",
                    "created_at": now,
                    "updated_at": now,
                },
            )
            audit(
                s,
                actor,
                f"{kind}.received",
                "run",
                run_id,
                {"item_id": item_id, "external_id": external_id, "source": source, "via": via},
            )
            return run_id, True
    except IntegrityError:  # a concurrent delivery of the same item won the race
        existing, _ = _existing_run(db, kind, source, external_id or "")
        if existing:
            return existing, False
        raise


def learn_external_id(db: Database, run_id: str, system: str, external_id: Any) -> bool:
    """The item of `run_id`, which came in without its system's id, learns it once a write of
    the run made it there (a help-desk ticket the run created): a later pull, webhook or post of
    that ticket then finds this item's run instead of starting a second triage. An item that
    has an id keeps it; one that another item holds already (its webhook came first) is left
    as it is. Returns whether the item learned it."""
    with db.session() as s:
        run = s.get(Run, run_id)
        item = s.get(Item, run.item_id) if run is not None and run.item_id else None
        if item is None or item.external_id is not None or external_id is None:
            return False
        taken = s.scalar(
            select(Item.id).where(
                Item.kind == item.kind, Item.source == system, Item.external_id == str(external_id)
            )
        )
        if taken is not None:
            return False
        item.source, item.external_id = system, str(external_id)
        try:
            s.flush()
        except IntegrityError:  # a delivery of the new ticket keyed its own item meanwhile
            s.rollback()
            return False
        audit(
            s,
            "system",
            f"{item.kind}.keyed",
            "run",
            run_id,
            {"item_id": item.id, "external_id": item.external_id, "source": system},
        )
        return True


def existing_run(db: Database, kind: str, source: str, external_id: Any) -> str | None:
    """The first run of the item `external_id` of `source`'s system, if it came in before and
    not every run of it was cancelled (then it is still to be done)."""
    desk = ticket_system(db) if kind == "ticket" and source in CHANNELS else TICKET_SYSTEM
    found, cancelled = _existing_run(db, kind, system_of(kind, source, desk), str(external_id))
    return None if cancelled else found


def _existing_run(db: Database, kind: str, source: str, external_id: str) -> tuple[str | None, bool]:
    """The item's first run that was not cancelled (else its first), and whether every run of
    it was cancelled."""
    # Tickets stored before items were keyed by system kept their channel as source.
    of_desk = kind == "ticket" and source == TICKET_SYSTEM
    with db.reading() as c:
        params = {"kind": kind, "source": source, "external_id": external_id}
        found = execute(c, _FIRST_RUN_OF_DESK if of_desk else _FIRST_RUN, params).first()
        return (str(found.id), found.status == "cancelled") if found is not None else (None, False)


# Asked of every item that arrives: built once, on the tables (a plain Core statement the driver
# can be given), with the sources compared one by one (an IN list is bound anew at each call).
_RUNS_T, _ITEMS_T = cast(Table, Run.__table__), cast(Table, Item.__table__)


def _first_run(source_is: Any) -> Any:
    return prepared(
        select(_RUNS_T.c.id, _RUNS_T.c.status)
        .join(_ITEMS_T, _RUNS_T.c.item_id == _ITEMS_T.c.id)
        .where(
            _ITEMS_T.c.kind == bindparam("kind"),
            source_is,
            _ITEMS_T.c.external_id == bindparam("external_id"),
        )
        .order_by(case((_RUNS_T.c.status == "cancelled", 1), else_=0), _RUNS_T.c.created_at)
        .limit(1)
    )


_FIRST_RUN = _first_run(_ITEMS_T.c.source == bindparam("source"))
_FIRST_RUN_OF_DESK = _first_run(
    or_(_ITEMS_T.c.source == bindparam("source"), *(_ITEMS_T.c.source == channel for channel in CHANNELS))
)


_WRITES_OF_ITEM = (
    select(Action.id)
    .join(Run, Action.run_id == Run.id)
    .where(
        Run.item_id == select(Run.item_id).where(Run.id == bindparam("run_id")).scalar_subquery(),
        or_(Action.status.in_(reruns.MADE), and_(Action.attempts > 0, Action.status != "dismissed")),
    )
    .limit(1)
)


def _made_writes(db: Database, run_id: str) -> bool:
    """Whether any run of `run_id`'s item sent a write, or may have: one with an attempt made
    (failed, or retried and waiting again; not one taken back unsent, nor one a person dismissed
    as not done)."""
    with db.reading() as c:
        return c.execute(_WRITES_OF_ITEM, {"run_id": run_id}).first() is not None


def _rerun(db: Database, first_run_id: str, actor: str) -> str:
    """A new queued run on the item of `first_run_id`, with the same input."""
    with db.session() as s:
        first = s.get(Run, first_run_id)
        assert first is not None
        run = Run(
            kind=first.kind,
            item_id=first.item_id,
            input=first.input,
            created_by=reruns.creator(first, actor),
            status="queued",
        )
        s.add(run)
        s.flush()
        audit(
            s, actor, "item.triaged_again", "run", run.id, {"item_id": first.item_id, "first_run": first.id}
        )
        return run.id
