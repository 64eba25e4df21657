"""MulDimIF checkers (placeholder: being written)."""

CHECKERS: dict = {}
REQUIREMENT_SAMPLERS: dict = {}
