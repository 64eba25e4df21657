"""IFBench types (placeholder: being written)."""

TYPES: tuple = ()
