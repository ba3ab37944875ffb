"""PostgreSQL seals a transaction's audit rows in one statement: the chain's lock, its head,
the rows' hashes and their INSERT, in a function the server runs.

Every transaction that writes audit rows takes the chain's lock at commit, across all workers,
and holds it until it commits. Sealed from Python, that hold spanned three round trips (the
head, the INSERT, the COMMIT), and the sealing thread had to win its process's interpreter lock
back after each: with 32 runs at once in a worker, a seal waited 6 to 23 ms for the chain. The
server now reads the head and chains and inserts the rows in the one statement that takes the
lock (each statement of a volatile function sees what committed before it began, so the head is
read after the lock is granted), and the hold is that statement and the COMMIT.

The hashes are those `app.store.audit_chain.link` computes (SHA-256 of the previous row's hash,
a newline and the row's canonical content, which Python still writes), so `verify` is unchanged.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        r"""
        CREATE OR REPLACE FUNCTION switchboard_seal_audit(
            lock_key bigint, ids bigint[], ats timestamptz[], actors text[], events text[],
            subject_types text[], subject_ids text[], datas text[], bodies bytea[]
        ) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            seq bigint;
            prev text;
            seqs bigint[] := '{}';
            prevs text[] := '{}';
            hashes text[] := '{}';
        BEGIN
            PERFORM pg_advisory_xact_lock(lock_key);
            SELECT chain_seq, hash INTO seq, prev FROM audit_log
                WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1;
            IF NOT FOUND THEN
                seq := 0;
                prev := repeat('0', 64);
            END IF;
            FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
                seq := seq + 1;
                seqs := seqs || seq;
                prevs := prevs || prev;
                prev := encode(sha256(convert_to(prev, 'UTF8') || '\x0a'::bytea || bodies[i]), 'hex');
                hashes := hashes || prev;
            END LOOP;
            INSERT INTO audit_log (id, at, actor, event, subject_type, subject_id, data, chain_seq, prev_hash, hash)
                SELECT * FROM unnest(ids, ats, actors, events, subject_types, subject_ids, datas::json[],
                                     seqs, prevs, hashes);
            RETURN seq;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DROP FUNCTION IF EXISTS switchboard_seal_audit(bigint, bigint[], timestamptz[], text[], text[], "
        "text[], text[], text[], bytea[])"
    )
