"""One settings object for the edges, read from environment variables with local defaults.

Flows and transforms never read the environment themselves: the CLI builds a
``Settings`` once and passes what each step needs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from expectations.thresholds import CoverageThresholds

__all__ = ["AlertSettings", "CoverageThresholds", "Settings", "load_settings"]

DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024


def _env_number(env: dict[str, str], name: str, default, kind, what: str):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be {what}, got {raw!r}") from exc


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    return _env_number(env, name, default, int, "a whole number")


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    return _env_number(env, name, default, float, "a number")


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    prefect_block: str | None = None
    timeout_seconds: float = 10.0
    retries: int = 3

    @property
    def any_channel(self) -> bool:
        return bool(self.webhook_url or (self.smtp_host and self.smtp_to) or self.prefect_block)


@dataclass(frozen=True)
class Settings:
    warehouse: Path = Path("zonefacts.duckdb")
    inbox: Path = Path("samples")
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    batch_documents: int = 1000
    lock_wait_seconds: float = 0.0
    alerts: AlertSettings = field(default_factory=AlertSettings)
    coverage: CoverageThresholds = field(default_factory=CoverageThresholds)

    @property
    def work_path(self) -> Path:
        """The file the flow writes; ``warehouse`` is the published read-only snapshot."""
        return self.warehouse.with_name(self.warehouse.name + ".work")

    @property
    def lock_path(self) -> Path:
        return self.warehouse.with_name(self.warehouse.name + ".lock")

    @property
    def staging_dir(self) -> Path:
        return self.warehouse.with_name(self.warehouse.name + ".staging")

    @property
    def data_docs_dir(self) -> Path:
        return self.warehouse.with_name(self.warehouse.stem + "_data_docs")

    def with_overrides(self, **kwargs) -> "Settings":
        return replace(self, **{k: v for k, v in kwargs.items() if v is not None})


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    alerts = AlertSettings(
        webhook_url=env.get("ZONEFACTS_ALERT_WEBHOOK_URL") or None,
        smtp_host=env.get("ZONEFACTS_ALERT_SMTP_HOST") or None,
        smtp_port=_env_int(env, "ZONEFACTS_ALERT_SMTP_PORT", 25),
        smtp_from=env.get("ZONEFACTS_ALERT_SMTP_FROM") or None,
        smtp_to=tuple(a.strip() for a in env.get("ZONEFACTS_ALERT_SMTP_TO", "").split(",") if a.strip()),
        smtp_starttls=env.get("ZONEFACTS_ALERT_SMTP_STARTTLS", "").lower() in {"1", "true", "yes"},
        smtp_user=env.get("ZONEFACTS_ALERT_SMTP_USER") or None,
        smtp_password=env.get("ZONEFACTS_ALERT_SMTP_PASSWORD") or None,
        prefect_block=env.get("ZONEFACTS_ALERT_PREFECT_BLOCK") or None,
    )
    return Settings(
        warehouse=Path(env.get("ZONEFACTS_WAREHOUSE", "zonefacts.duckdb")),
        inbox=Path(env.get("ZONEFACTS_INBOX", "samples")),
        max_file_bytes=_env_int(env, "ZONEFACTS_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES),
        batch_documents=_env_int(env, "ZONEFACTS_BATCH_DOCUMENTS", 1000),
        alerts=alerts,
        coverage=CoverageThresholds(
            min_cue_numbers=_env_int(env, "ZONEFACTS_COVERAGE_MIN_CUE_NUMBERS", CoverageThresholds.min_cue_numbers),
            min_share=_env_float(env, "ZONEFACTS_COVERAGE_MIN_SHARE", CoverageThresholds.min_share),
        ),
    )
