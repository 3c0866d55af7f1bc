"""Since the first release: ocr_events.engine_version, clock_offset_ms and kind (the covering
index includes kind), and the remediation tables (ocr_remediations, ocr_corrections).

Before the migrations, the events writer added the three columns by hand (ALTER TABLE under the
schema lock) and ``create_all`` the two tables: a database from then has some of this already, and
only what it lacks is added. On PostgreSQL a covering index made before ``kind`` is rebuilt with
it (per-kind window figures are an index-only scan again); the rebuild runs in this migration's
transaction, so event inserts wait for it (the writers spool meanwhile): at 10 M events, run the
upgrade in a quiet moment.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TZ = sa.DateTime(timezone=True)
EVENT_COLUMNS = (("engine_version", sa.String(64)), ("clock_offset_ms", sa.Integer), ("kind", sa.String(16)))
COVERING = ["engine", "stage", "shadow", "success", "fallback", "duration_ms", "confidence", "error_class", "kind"]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present = {c["name"] for c in inspector.get_columns("ocr_events")}
    for name, kind in EVENT_COLUMNS:
        if name not in present:
            op.add_column("ocr_events", sa.Column(name, kind))
    if bind.dialect.name == "postgresql":
        definition = bind.execute(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_ocr_events_at_covering'"
                                          )).scalar()
        if definition is None or "kind" not in definition:
            op.execute("DROP INDEX IF EXISTS ix_ocr_events_at_covering")
            op.create_index("ix_ocr_events_at_covering", "ocr_events", ["at"], postgresql_include=COVERING)
    tables = set(inspector.get_table_names())
    if "ocr_remediations" not in tables:
        op.create_table(
            "ocr_remediations",
            sa.Column("id", _id, primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(250)),
            sa.Column("stage", sa.Integer),
            sa.Column("percentage", sa.Integer, nullable=False),
            sa.Column("cause", sa.String(32), nullable=False),
            sa.Column("window_start", TZ, nullable=False),
            sa.Column("window_end", TZ, nullable=False),
            sa.Column("started_at", TZ, nullable=False),
            sa.Column("finished_at", TZ),
            *[sa.Column(name, sa.Integer, nullable=False) for name in
              ("served", "retained", "reread", "corrected", "published", "needs_review", "failed")],
            sa.Column("details", sa.JSON),
        )
        op.create_index("ix_ocr_remediations_at", "ocr_remediations", ["started_at"])
    if "ocr_corrections" not in tables:
        op.create_table(
            "ocr_corrections",
            sa.Column("id", _id, primary_key=True, autoincrement=True),
            sa.Column("remediation_id", _id, nullable=False),
            sa.Column("request_id", sa.String(64), nullable=False),
            sa.Column("stage", sa.Integer),
            sa.Column("percentage", sa.Integer),
            sa.Column("kind", sa.String(16)),
            sa.Column("served_at", TZ),
            sa.Column("created_at", TZ, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("fields", sa.JSON, nullable=False),
            sa.Column("corrected_result", sa.JSON),
            sa.Column("published", sa.Boolean, nullable=False),
        )
        op.create_index("ix_ocr_corrections_request", "ocr_corrections", ["remediation_id", "request_id"],
                        unique=True)
        op.create_index("ix_ocr_corrections_at", "ocr_corrections", ["created_at"])


def downgrade() -> None:
    op.drop_table("ocr_corrections")
    op.drop_table("ocr_remediations")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_ocr_events_at_covering", table_name="ocr_events")
        op.create_index("ix_ocr_events_at_covering", "ocr_events", ["at"], postgresql_include=COVERING[:-1])
    with op.batch_alter_table("ocr_events") as batch:
        for name, _ in reversed(EVENT_COLUMNS):
            batch.drop_column(name)
