"""Every script in ``benchmarks/`` still imports against the package: a rename inside ``vsr`` (issue 12
moved a dozen names) must break a test, not the next person who regenerates a result."""
import importlib
from pathlib import Path
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


def test_the_scripts_are_found():
    assert {"video", "speed", "table1", "cluster", "mutations"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_imports(name, monkeypatch):
    # scripts run as `python benchmarks/x.py` (their folder on the path) or, like table1, `python -m benchmarks.x`
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.syspath_prepend(str(ROOT))
    for cached in [m for m in sys.modules if m == name or m == f"benchmarks.{name}"]:
        monkeypatch.delitem(sys.modules, cached)
    importlib.import_module(f"benchmarks.{name}")
