"""expectations/gx_import.py: GX imports with scipy.stats and altair standing in until first use;
a run's Prefect imports without its notification and webhook block types until an alert needs them."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT


def _runs_clean(script: str) -> None:
    """Run ``script`` in a fresh interpreter (imports start from nothing); it must print "ok"."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


def test_gx_imports_without_scipy_stats_and_altair_and_they_load_on_first_use():
    script = """
        import sys
        from expectations.suites import warm_up
        warm_up()   # GX, its context and every zonefacts suite
        deferred = {name: type(sys.modules[name]).__name__ for name in ("scipy.stats", "altair")}
        assert deferred == {"scipy.stats": "DeferredModule", "altair": "DeferredModule"}, deferred

        # GX's own user of them still works: the first attribute read imports the real module
        from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
        assert abs(kl.stats.entropy([0.5, 0.5], [0.9, 0.1]) - 0.5108256) < 1e-6
        assert type(sys.modules["scipy.stats"]).__name__ == "module"
        assert kl.alt.Chart.__name__ == "Chart" and type(sys.modules["altair"]).__name__ == "module"
        print("ok")
    """
    _runs_clean(script)


def test_a_module_imported_before_gx_is_left_alone():
    script = """
        import sys
        import scipy.stats
        real = sys.modules["scipy.stats"]
        from expectations.gx_import import import_gx
        import_gx()
        assert sys.modules["scipy.stats"] is real
        assert type(sys.modules["altair"]).__name__ == "DeferredModule"
        print("ok")
    """
    _runs_clean(script)


def test_with_sqlalchemy_hidden_gx_imports_as_without_it_and_still_validates():
    script = """
        import sys
        import polars as pl
        from expectations.gx_import import ABSENT_FOR_GX, hide, hidden
        hide(ABSENT_FOR_GX)
        from expectations.suites import validate_document_stats, document_stats, warm_up
        warm_up()
        assert hidden() == ["sqlalchemy"] and sys.modules["sqlalchemy"] is None
        from great_expectations.compatibility import sqlalchemy as gx_sqlalchemy
        assert not gx_sqlalchemy.sqlalchemy   # GX's own mark for "not installed"
        try:
            import sqlalchemy
        except ImportError:
            pass
        else:
            raise AssertionError("sqlalchemy imported")
        documents = pl.DataFrame({"document_id": ["a", "b"], "path": ["a.txt", "b.txt"],
                                  "text": ["", "2024年，重庆高新区地区生产总值增长6.1%。"]})
        failed = {r.expectation for r in validate_document_stats(document_stats(documents)) if not r.success}
        assert failed == {"text_not_empty"}, failed
        print("ok")
    """
    _runs_clean(script)


def test_hide_leaves_a_module_already_imported_alone():
    script = """
        import sys
        import sqlalchemy
        from expectations.gx_import import hide, hidden
        hide(("sqlalchemy",))
        assert sys.modules["sqlalchemy"] is sqlalchemy and hidden() == []
        print("ok")
    """
    _runs_clean(script)


def test_a_run_defers_prefects_block_types_and_a_block_alert_channel_still_finds_them():
    script = """
        import sys
        from flows.commands.prefect_env import DEFERRED_BY_PREFECT, defer_block_types
        defer_block_types()
        import prefect
        from prefect.blocks.core import Block
        from prefect.utilities.dispatch import get_registry_for_type, lookup_type
        kinds = {name: type(sys.modules[name]).__name__ for name in DEFERRED_BY_PREFECT}
        assert set(kinds.values()) == {"DeferredModule"}, kinds
        assert "slack-webhook" not in get_registry_for_type(Block)

        from flows.alerts import _load_prefect_blocks
        _load_prefect_blocks("slack-webhook/ops")   # what the Prefect-block channel does first
        assert lookup_type(Block, "slack-webhook").__name__ == "SlackWebhook"
        assert lookup_type(Block, "webhook").__name__ == "Webhook"
        assert {type(sys.modules[name]).__name__ for name in DEFERRED_BY_PREFECT} == {"module"}
        print("ok")
    """
    _runs_clean(script)
