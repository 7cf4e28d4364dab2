"""The Prefect settings zonefacts gives its own processes (flows/commands/prefect_env.py)."""
from __future__ import annotations

from prefect import flow
from prefect.settings import get_current_settings

from flows.commands.prefect_env import one_off_run


@flow(persist_result=False)
def _heartbeat_frequency_in_flow() -> int | None:
    return get_current_settings().flows.heartbeat_frequency


def test_a_one_off_run_sends_no_heartbeats(prefect_api_url, monkeypatch):
    for name in ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"):
        monkeypatch.delenv(name, raising=False)
    assert _heartbeat_frequency_in_flow() is not None    # Prefect's default: heartbeats on
    with one_off_run():
        assert _heartbeat_frequency_in_flow() is None
    assert _heartbeat_frequency_in_flow() is not None


def test_a_frequency_the_user_set_is_kept(prefect_api_url, monkeypatch):
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60")
    before = get_current_settings().flows.heartbeat_frequency
    with one_off_run():
        assert _heartbeat_frequency_in_flow() == before
        assert before is not None
