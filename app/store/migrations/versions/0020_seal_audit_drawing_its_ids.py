"""PostgreSQL seals a transaction's audit rows in one round trip: the function draws the rows'
ids itself.

Sealing took two statements per transaction: one drew the new rows' ids from the sequence
(each row's hash covers its id, and Python wrote what the hash covers), the next sealed them
(0016). Python now sends what each hash covers as the bytes before the id and the bytes after
it; the function draws each id, under the chain's lock, and joins the three. The hashes are
the same as `app.store.audit_chain.link` computes, so `verify` is unchanged, and the ids now
rise in chain order. 0016's function stays for a database between the two.

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        r"""
        CREATE OR REPLACE FUNCTION switchboard_seal_audit_rows(
            lock_key bigint, ats timestamptz[], actors text[], events text[],
            subject_types text[], subject_ids text[], datas text[], heads bytea[], tails bytea[]
        ) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            seq bigint;
            prev text;
            id bigint;
            ids bigint[] := '{}';
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
            FOR i IN 1 .. coalesce(array_length(ats, 1), 0) LOOP
                id := nextval(pg_get_serial_sequence('audit_log', 'id'));
                seq := seq + 1;
                ids := ids || id;
                seqs := seqs || seq;
                prevs := prevs || prev;
                prev := encode(sha256(convert_to(prev, 'UTF8') || '\x0a'::bytea || heads[i]
                                      || convert_to(id::text, 'UTF8') || tails[i]), 'hex');
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
        "DROP FUNCTION IF EXISTS switchboard_seal_audit_rows(bigint, timestamptz[], text[], text[], "
        "text[], text[], text[], bytea[], bytea[])"
    )
