"""Table schemas: the contract between pipeline stages (see ``schemas.tables``)."""

from schemas.tables import (
    BATCH,
    CONSTRAINT,
    EVAL,
    PROMPTS,
    REPLAYS,
    ROLLOUTS,
    SCHEMA_VERSION,
    TABLES,
    VERDICTS,
)

__all__ = [
    "BATCH",
    "CONSTRAINT",
    "EVAL",
    "PROMPTS",
    "REPLAYS",
    "ROLLOUTS",
    "SCHEMA_VERSION",
    "TABLES",
    "VERDICTS",
]
