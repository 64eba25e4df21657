"""Suite-wide settings: offline, no telemetry, all state inside the project's ignored folders."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CACHE = ROOT / ".cache"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", str(_CACHE / "prefect"))
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(_CACHE / "torch_extensions"))
os.environ.setdefault("HIR_CACHE_DIR", str(_CACHE / "hir"))

# typer's CliRunner swaps sys.stderr for a buffer it closes afterwards; a log handler created
# meanwhile (Prefect's console handler, on a flow's first log line) keeps the closed buffer, and
# a later flow's log line would then fail the test. Tests must not fail on a log line that
# cannot be printed: the stdlib switch for exactly that.
import logging

logging.raiseExceptions = False
os.environ.setdefault("DS_BUILD_OPS", "0")

FIXTURES = ROOT / "tests" / "fixtures"


# One real Prefect test server per pytest session (~10 s to start), for the tests that ask for
# it: flows run against a temporary sqlite database, never the user's Prefect home.
import pytest


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
