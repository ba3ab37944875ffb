"""An approver's edit of a long list is traced item by item, against one index of the earlier items.

Every changed leaf is looked up in an index of the earlier leaves by their place with their list
indexes left open, built once per edit: an approver replacing every one of 2,000 tags makes each
the approver's, and one who takes the first of 2,000 out keeps every other tag's provenance.
(How long such an edit takes is printed by `python -m bench.pathological`, never asserted.)
"""

from __future__ import annotations

from app.agent import provenance

N = 2_000


def test_every_replaced_item_of_a_long_list_is_the_approvers() -> None:
    before = {"add_tags": [f"old_{i}" for i in range(N)]}
    before_provenance = provenance.trace(before, {})
    after = {"add_tags": [f"new_{i}" for i in range(N)]}
    out = provenance.trace(after, {}, approver="alice", before=before, before_provenance=before_provenance)
    assert {o["source"] for o in out.values()} == {"approver"}


def test_items_left_after_the_first_is_taken_out_keep_their_provenance() -> None:
    before = {"add_tags": [f"tag_{i}" for i in range(N)]}
    before_provenance = {
        f"add_tags/{i}": {"source": "untrusted", "value": f"tag_{i}", "detail": "the ticket"}
        for i in range(N)
    }
    after = {"add_tags": before["add_tags"][1:]}
    out = provenance.trace(after, {}, approver="alice", before=before, before_provenance=before_provenance)
    assert len(out) == N - 1 and {o["source"] for o in out.values()} == {"untrusted"}
