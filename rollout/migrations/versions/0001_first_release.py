"""The first release's tables: rollout state, flag audit, events, gate evaluations, alerts, GX
validations (as ``create_all`` made them before the migrations).

A database from before the migrations has some or all of them: only what it lacks is created.
The definitions are written out, not imported from ``rollout.db``: a migration is what the schema
was at its revision, whatever the models say later.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TZ = sa.DateTime(timezone=True)


class _Index(tuple):
    """An index of a table below: (name, columns, dialect options)."""

    def __new__(cls, name: str, *columns: str, **options):
        return super().__new__(cls, (name, list(columns), options))


def _tables() -> dict:
    return {**_flag_tables(), **_event_tables(), **_health_tables()}


def _flag_tables() -> dict:
    return {
        "rollout_state": (
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("stage", sa.Integer, nullable=False),
            sa.Column("percentage", sa.Integer, nullable=False),
            sa.Column("flags", sa.JSON, nullable=False),
            sa.Column("maintenance_reason", sa.Text, nullable=False),
            sa.Column("updated_at", TZ, nullable=False),
            sa.Column("updated_by", sa.String(200), nullable=False),
        ),
        "flag_audit": (
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", TZ, nullable=False),
            sa.Column("actor", sa.String(200), nullable=False),
            sa.Column("action", sa.String(64), nullable=False),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("version_before", sa.Integer),
            sa.Column("version_after", sa.Integer),
            sa.Column("before", sa.JSON),
            sa.Column("after", sa.JSON),
            sa.Column("reason", sa.Text, nullable=False),
            _Index("ix_flag_audit_at", "at"),
        ),
    }


def _event_tables() -> dict:
    return {
        "ocr_events": (
            sa.Column("id", _id, primary_key=True, autoincrement=True),
            sa.Column("at", TZ, nullable=False),
            sa.Column("event_id", sa.String(32), nullable=False, unique=True),
            sa.Column("request_id", sa.String(64), nullable=False),
            sa.Column("user_bucket", sa.String(16)),
            sa.Column("engine", sa.String(16), nullable=False),
            sa.Column("stage", sa.Integer, nullable=False),
            sa.Column("percentage", sa.Integer, nullable=False),
            sa.Column("duration_ms", sa.Integer, nullable=False),
            sa.Column("success", sa.Boolean, nullable=False),
            sa.Column("error_class", sa.String(64)),
            sa.Column("confidence", sa.Float),
            sa.Column("pages", sa.Integer),
            sa.Column("fallback", sa.Boolean, nullable=False),
            sa.Column("shadow", sa.Boolean, nullable=False),
            sa.Column("shadow_agreement", sa.Float),
            sa.Column("field_agreement", sa.JSON),
            _Index("ix_ocr_events_engine_at", "engine", "at"),
            _Index("ix_ocr_events_at_covering", "at", postgresql_include=[
                "engine", "stage", "shadow", "success", "fallback", "duration_ms", "confidence", "error_class"]),
        ),
    }


def _health_tables() -> dict:
    return {
        "gate_evaluations": (
            sa.Column("id", _id, primary_key=True, autoincrement=True),
            sa.Column("evaluated_at", TZ, nullable=False),
            sa.Column("run_id", sa.String(250)),
            sa.Column("stage", sa.Integer),
            sa.Column("percentage", sa.Integer),
            sa.Column("canary", sa.String(16), nullable=False),
            sa.Column("baseline", sa.String(16)),
            sa.Column("window_start", TZ, nullable=False),
            sa.Column("window_end", TZ, nullable=False),
            sa.Column("verdict", sa.String(16), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("canary_documents", sa.Integer, nullable=False),
            sa.Column("baseline_documents", sa.Integer, nullable=False),
            sa.Column("checks", sa.JSON, nullable=False),
            sa.Column("figures", sa.JSON, nullable=False),
            sa.Column("thresholds", sa.JSON, nullable=False),
            _Index("ix_gate_evaluations_at", "evaluated_at"),
            _Index("ix_gate_evaluations_run", "run_id", "evaluated_at"),
        ),
        "alerts": (
            sa.Column("id", _id, primary_key=True, autoincrement=True),
            sa.Column("key", sa.String(200), nullable=False),
            sa.Column("severity", sa.String(16), nullable=False),
            sa.Column("source", sa.String(32), nullable=False),
            sa.Column("message", sa.Text, nullable=False),
            sa.Column("recommendation", sa.Text, nullable=False),
            sa.Column("stage", sa.Integer),
            sa.Column("raised_at", TZ, nullable=False),
            sa.Column("last_seen_at", TZ, nullable=False),
            sa.Column("count", sa.Integer, nullable=False),
            sa.Column("resolved_at", TZ),
            sa.Column("notified", sa.Boolean, nullable=False),
            sa.Column("details", sa.JSON),
            _Index("ix_alerts_open", "key", "resolved_at"),
            _Index("ix_alerts_raised", "severity", "raised_at"),
        ),
        "gx_validations": (
            sa.Column("id", _id, primary_key=True, autoincrement=True),
            sa.Column("evaluated_at", TZ, nullable=False),
            sa.Column("run_id", sa.String(250)),
            sa.Column("stage", sa.Integer),
            sa.Column("suite", sa.String(100), nullable=False),
            sa.Column("success", sa.Boolean),
            sa.Column("evaluated_expectations", sa.Integer, nullable=False),
            sa.Column("successful_expectations", sa.Integer, nullable=False),
            sa.Column("unsuccessful_expectations", sa.Integer, nullable=False),
            sa.Column("documents", sa.Integer, nullable=False),
            sa.Column("results", sa.JSON, nullable=False),
            sa.Column("data_docs_path", sa.Text),
            _Index("ix_gx_validations_at", "evaluated_at"),
            _Index("ix_gx_validations_run", "run_id", "evaluated_at"),
        ),
    }


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name, parts in _tables().items():
        if name not in present:
            op.create_table(name, *[p for p in parts if not isinstance(p, _Index)])
            for index, columns, options in (p for p in parts if isinstance(p, _Index)):
                op.create_index(index, name, columns, **options)


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)
