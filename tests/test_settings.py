"""flows.settings: the ZONEFACTS_* environment through pydantic-settings, read only by load_settings."""
from __future__ import annotations

from pathlib import Path

import pytest

from flows import cli
from flows.settings import (DEFAULT_BATCH_DOCUMENTS, DEFAULT_MAX_FILE_BYTES, AlertSettings, CoverageThresholds,
                            Settings, load_settings)


def test_defaults_without_any_variable():
    settings = load_settings({})
    assert settings == Settings()
    assert (settings.warehouse, settings.inbox, settings.max_file_bytes) == (
        Path("zonefacts.duckdb"), Path("samples"), DEFAULT_MAX_FILE_BYTES)
    assert settings.alerts == AlertSettings() and not settings.alerts.any_channel
    assert settings.coverage == CoverageThresholds()


def test_every_variable_is_read():
    settings = load_settings({
        "ZONEFACTS_WAREHOUSE": "/srv/wh.duckdb", "ZONEFACTS_INBOX": "/srv/inbox",
        "ZONEFACTS_MAX_FILE_BYTES": "1000", "ZONEFACTS_BATCH_DOCUMENTS": "20",
        "ZONEFACTS_VALIDATION_PROCESS": "0",
        "ZONEFACTS_ALERT_URLS": " wecombot://k1\n\tdingtalk://t2/   mailtos://u:p@smtp.example.org ",
        "ZONEFACTS_ALERT_WEBHOOK_URL": "https://hooks.example.org/in/abc",
        "ZONEFACTS_ALERT_SMTP_HOST": "smtp.example.org", "ZONEFACTS_ALERT_SMTP_PORT": "587",
        "ZONEFACTS_ALERT_SMTP_FROM": "zf@example.org", "ZONEFACTS_ALERT_SMTP_TO": "a@example.org, b@example.org,",
        "ZONEFACTS_ALERT_SMTP_STARTTLS": "yes", "ZONEFACTS_ALERT_SMTP_USER": "bot",
        "ZONEFACTS_ALERT_SMTP_PASSWORD": "pw-1", "ZONEFACTS_ALERT_PREFECT_BLOCK": "slack-webhook/ops",
        "ZONEFACTS_ALERT_TIMEOUT_SECONDS": "2.5", "ZONEFACTS_ALERT_RETRIES": "0",
        "ZONEFACTS_COVERAGE_MIN_CUE_NUMBERS": "10", "ZONEFACTS_COVERAGE_MIN_SHARE": "0.95",
        "ZONEFACTS_REEXTRACTION_MAX_RETRACTED_SHARE": "0.3",
    })
    assert (settings.warehouse, settings.inbox, settings.max_file_bytes, settings.batch_documents) == (
        Path("/srv/wh.duckdb"), Path("/srv/inbox"), 1000, 20)
    assert settings.validation_process is False
    assert settings.reextraction.max_retracted_share == 0.3
    assert settings.alerts == AlertSettings(
        urls=("wecombot://k1", "dingtalk://t2/", "mailtos://u:p@smtp.example.org"),
        webhook_url="https://hooks.example.org/in/abc", smtp_host="smtp.example.org", smtp_port=587,
        smtp_from="zf@example.org", smtp_to=("a@example.org", "b@example.org"), smtp_starttls=True,
        smtp_user="bot", smtp_password="pw-1", prefect_block="slack-webhook/ops", timeout_seconds=2.5, retries=0)
    assert settings.coverage == CoverageThresholds(min_cue_numbers=10, min_share=0.95)
    assert "pw-1" not in repr(settings)


def test_empty_values_mean_the_default():
    settings = load_settings({"ZONEFACTS_MAX_FILE_BYTES": "", "ZONEFACTS_ALERT_WEBHOOK_URL": "",
                              "ZONEFACTS_ALERT_URLS": "  ", "ZONEFACTS_ALERT_SMTP_PORT": ""})
    assert settings == Settings()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ZONEFACTS_MAX_FILE_BYTES", "20MB", "ZONEFACTS_MAX_FILE_BYTES must be a whole number, got '20MB'"),
    ("ZONEFACTS_COVERAGE_MIN_SHARE", "high", "ZONEFACTS_COVERAGE_MIN_SHARE must be a number, got 'high'"),
    ("ZONEFACTS_BATCH_DOCUMENTS", "0", "ZONEFACTS_BATCH_DOCUMENTS must be greater than 0, got '0'"),
    ("ZONEFACTS_ALERT_SMTP_STARTTLS", "maybe", "ZONEFACTS_ALERT_SMTP_STARTTLS must be true or false"),
    ("ZONEFACTS_ALERT_RETRIES", "-1", "ZONEFACTS_ALERT_RETRIES must be greater than or equal to 0, got '-1'"),
])
def test_a_bad_value_exits_naming_the_variable(name, value, message):
    with pytest.raises(SystemExit) as exc:
        load_settings({name: value})
    assert str(exc.value).startswith(message)


def test_only_load_settings_reads_the_environment(monkeypatch):
    monkeypatch.setenv("ZONEFACTS_BATCH_DOCUMENTS", "7")
    monkeypatch.setenv("ZONEFACTS_ALERT_URLS", "json://127.0.0.1:1/")
    assert load_settings().batch_documents == 7 and load_settings().alerts.urls == ("json://127.0.0.1:1/",)
    assert load_settings({}).batch_documents == DEFAULT_BATCH_DOCUMENTS   # the mapping given, not a mix
    # a Settings built in code never reads the environment
    assert Settings().batch_documents == DEFAULT_BATCH_DOCUMENTS and Settings().alerts.urls == ()


def test_the_cli_stops_on_a_bad_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("ZONEFACTS_MAX_FILE_BYTES", "lots")
    with pytest.raises(SystemExit, match="ZONEFACTS_MAX_FILE_BYTES must be a whole number"):
        cli.main(["run", "--inbox", str(tmp_path), "--warehouse", str(tmp_path / "wh.duckdb")])
