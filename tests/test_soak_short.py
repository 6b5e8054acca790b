"""Short soak: one appliance through 30 calls after warm-up keeps its fds and threads flat and loses nothing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

WARM_CALLS = 5
MEASURED_CALLS = 30
SHORT_SCENARIOS = [
    "01_normal_call",
    "03_blocked_number",
    "08_outgoing_call",
    "09_caller_hangs_up_during_notice",
    "10_call_waiting",
]
"""The scenarios that take under a minute of line time: the soak's bookkeeping, not its duration, is tested."""


def _soak_module() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "soak.py"
    spec = importlib.util.spec_from_file_location("lineguard_bench_soak", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_thirty_calls_after_warm_up_leave_fds_and_threads_flat(tmp_path: Path) -> None:
    soak = _soak_module()
    config = soak.soak_config()
    templates = soak.measure_templates(SHORT_SCENARIOS, tmp_path / "warm", config)
    assert [t.name for t in templates] == SHORT_SCENARIOS
    scenario, planned = soak.build_soak(templates, config, calls=WARM_CALLS + MEASURED_CALLS)
    ring_ins = sum(p.expected is None for p in planned)
    assert ring_ins >= 5, "call waiting must put several overlapping calls on the busy line"

    result = soak.run_soak(scenario, planned, config, tmp_path / "data", every=WARM_CALLS)

    assert result.problems == []
    assert result.calls == WARM_CALLS + MEASURED_CALLS
    # Outcomes of these scenarios do not depend on the detector: every one must be the scenario's own.
    assert result.differences == []
    assert sum(result.outcomes.values()) == result.calls
    assert result.outcomes["03_blocked_number:blocked"] >= 5
    warm = next(s for s in result.samples if s.calls >= WARM_CALLS)
    last = result.samples[-1]
    assert last.calls - warm.calls >= MEASURED_CALLS
    assert last.fds <= warm.fds, f"open fds grew {warm.fds} -> {last.fds} over {MEASURED_CALLS} calls"
    assert last.threads_os <= warm.threads_os, f"threads grew {warm.threads_os} -> {last.threads_os}"
    assert last.threads_py <= warm.threads_py
    # Recordings are written (the recorder is part of the soak), and the store grew with the calls.
    assert last.recordings_bytes > warm.recordings_bytes
    assert last.db_bytes + last.wal_bytes > 0
    assert result.events > 20 * result.calls // 2
