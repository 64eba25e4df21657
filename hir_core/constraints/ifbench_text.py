"""Text analysers shared by the IFBench types (placeholder: being written)."""
