import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "expectations" / "golden"

os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    assert (GOLDEN / "manifest.json").is_file(), "the committed golden subset is missing"
    return GOLDEN


@pytest.fixture(scope="session")
def cli() -> list[str]:
    """The installed console command (falls back to the module when run outside the venv)."""
    exe = Path(sys.executable).with_name("ocr-migrate")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from rollout.cli import main; main()"]
