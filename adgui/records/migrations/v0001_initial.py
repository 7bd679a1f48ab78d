"""The first schema: parts and events, with the indexes the shift queries use."""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "parts",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("part_id", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("recipe", sa.Text, nullable=False),
        sa.Column("recipe_version", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("score", sa.Double, nullable=True),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("trigger_time", sa.Double, nullable=True),
        sa.Column("acquired_time", sa.Double, nullable=True),
        sa.Column("verdict_time", sa.Double, nullable=False),
        sa.Column("latency_ms", sa.Double, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("image_path", sa.Text, nullable=False),
        sa.Column("overlay_path", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parts"),
    )
    op.create_index("ix_parts_station_verdict_time_verdict", "parts",
                    ["station", "verdict_time", "verdict"])
    op.create_table(
        "events",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("old_value", sa.Text, nullable=True),
        sa.Column("new_value", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.Column("link", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_station_time", "events", ["station", "time"])
    op.create_index("ix_events_station_kind_time", "events", ["station", "kind", "time"])
