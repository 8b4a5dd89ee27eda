import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
REALSET = SHARED / "realsets" / "bottles"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SLOW = os.environ.get("SYNTHGAP_SLOW") == "1"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def realset() -> Path:
    if not (REALSET / "annotations_coco.json").exists():
        pytest.fail(f"real set not found at {REALSET} (../shared must sit beside the clone)")
    return REALSET


@pytest.fixture(scope="session")
def render_python() -> Path:
    from core.envs import render_python as rp
    return rp()
