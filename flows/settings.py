"""One settings object for the edges: the ``ZONEFACTS_*`` environment, parsed by pydantic-settings.

``EnvSettings`` is the only reader of the environment; ``load_settings()`` runs it once at
the edge (the CLI, the flow entry) and returns the ``Settings`` that are passed down.
Flows and transforms never read the environment themselves, and ``Settings(...)`` built in
code never does either: only ``load_settings`` does.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from expectations.thresholds import CoverageThresholds, ReextractionThresholds

__all__ = ["DEFAULT_BATCH_DOCUMENTS", "DEFAULT_MAX_FILE_BYTES", "AlertSettings", "CoverageThresholds", "EnvSettings",
           "ReextractionThresholds", "Settings", "load_settings"]

DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
# Files per batch. Extracting a batch has a fixed cost (hundreds of Polars operations, whatever
# their size), so fewer, larger batches cost less; BATCH_MAX_BYTES (flows/pipeline.py) bounds
# what a batch holds in memory whatever this is.
DEFAULT_BATCH_DOCUMENTS = 2500
ENV_PREFIX = "ZONEFACTS_"


@dataclass(frozen=True)
class AlertSettings:
    urls: tuple[str, ...] = ()               # apprise URLs (ZONEFACTS_ALERT_URLS), one channel each
    webhook_url: str | None = None           # the zonefacts JSON payload, POSTed (ZONEFACTS_ALERT_WEBHOOK_URL)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    prefect_block: str | None = None
    timeout_seconds: float = 10.0            # the deadline of one attempt, whole (not per read)
    retries: int = 3

    @property
    def any_channel(self) -> bool:
        return bool(self.urls or self.webhook_url or (self.smtp_host and self.smtp_to) or self.prefect_block)


@dataclass(frozen=True)
class Settings:
    warehouse: Path = Path("zonefacts.duckdb")
    inbox: Path = Path("samples")
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    batch_documents: int = DEFAULT_BATCH_DOCUMENTS
    lock_wait_seconds: float = 0.0
    alerts: AlertSettings = field(default_factory=AlertSettings)
    coverage: CoverageThresholds = field(default_factory=CoverageThresholds)
    reextraction: ReextractionThresholds = field(default_factory=ReextractionThresholds)
    validation_process: bool = True          # ZONEFACTS_VALIDATION_PROCESS=0: GX in the run's process
    # ZONEFACTS_CORRECTIONS: the analysts' corrections file; None: <warehouse stem>.corrections.csv
    # beside the warehouse (warehouse.corrections.corrections_path)
    corrections: Path | None = None

    def _beside(self, suffix: str, *, stem: bool = False) -> Path:
        return self.warehouse.with_name((self.warehouse.stem if stem else self.warehouse.name) + suffix)

    # the file the flow writes; ``warehouse`` is the published read-only snapshot
    work_path = property(lambda self: self._beside(".work"))
    lock_path = property(lambda self: self._beside(".lock"))
    staging_dir = property(lambda self: self._beside(".staging"))
    data_docs_dir = property(lambda self: self._beside("_data_docs", stem=True))

    def with_overrides(self, **kwargs) -> "Settings":
        return replace(self, **{k: v for k, v in kwargs.items() if v is not None})


def _split(separator: str | None):
    """A before-validator: one environment string → a tuple of its non-empty items
    (``separator=None``: split on any whitespace)."""
    def split(value):
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(separator) if item.strip())
        return value
    return split


class EnvSettings(BaseSettings):
    """Every ``ZONEFACTS_<FIELD>`` variable; an empty value means the default."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    warehouse: Path = Path("zonefacts.duckdb")
    inbox: Path = Path("samples")
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, gt=0)
    batch_documents: int = Field(DEFAULT_BATCH_DOCUMENTS, gt=0)
    validation_process: bool = True
    corrections: Path | None = None
    # several apprise URLs separated by whitespace (a comma can be part of a URL)
    alert_urls: Annotated[tuple[str, ...], NoDecode] = ()
    alert_webhook_url: str | None = None
    alert_smtp_host: str | None = None
    alert_smtp_port: int = Field(25, gt=0, lt=65536)
    alert_smtp_from: str | None = None
    alert_smtp_to: Annotated[tuple[str, ...], NoDecode] = ()      # comma-separated addresses
    alert_smtp_starttls: bool = False
    alert_smtp_user: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_prefect_block: str | None = None
    alert_timeout_seconds: float = Field(AlertSettings.timeout_seconds, gt=0)
    alert_retries: int = Field(AlertSettings.retries, ge=0)
    coverage_min_cue_numbers: int = CoverageThresholds.min_cue_numbers
    coverage_min_share: float = CoverageThresholds.min_share
    reextraction_max_retracted_share: float = Field(ReextractionThresholds.max_retracted_share, ge=0, le=1)

    _urls = field_validator("alert_urls", mode="before")(_split(None))
    _to = field_validator("alert_smtp_to", mode="before")(_split(","))

    def settings(self) -> Settings:
        password = self.alert_smtp_password
        return Settings(
            warehouse=self.warehouse, inbox=self.inbox, max_file_bytes=self.max_file_bytes,
            batch_documents=self.batch_documents, validation_process=self.validation_process,
            corrections=self.corrections,
            alerts=AlertSettings(
                urls=self.alert_urls, webhook_url=self.alert_webhook_url, smtp_host=self.alert_smtp_host,
                smtp_port=self.alert_smtp_port, smtp_from=self.alert_smtp_from, smtp_to=self.alert_smtp_to,
                smtp_starttls=self.alert_smtp_starttls, smtp_user=self.alert_smtp_user,
                smtp_password=password.get_secret_value() if password else None,
                prefect_block=self.alert_prefect_block, timeout_seconds=self.alert_timeout_seconds,
                retries=self.alert_retries),
            coverage=CoverageThresholds(min_cue_numbers=self.coverage_min_cue_numbers,
                                        min_share=self.coverage_min_share),
            reextraction=ReextractionThresholds(max_retracted_share=self.reextraction_max_retracted_share),
        )


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, so that ``load_settings(env)``
    reads exactly ``env`` (``os.environ`` by default) and never a mix of the two."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


# what a value of each kind must be, in the words of the error message
_EXPECTED = {"int_parsing": "a whole number", "int_from_float": "a whole number", "float_parsing": "a number",
             "bool_parsing": "true or false (1/0, yes/no)"}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default: the process environment). A bad value exits with a
    message naming the variable, as a usage error the user can fix."""
    source = _EnvironmentSource(EnvSettings, os.environ if env is None else env)
    try:
        # the one source: EnvSettings() alone would read os.environ besides ``env``
        return EnvSettings(_build_sources=((source,), {})).settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else ENV_PREFIX + "*"
        expected = _EXPECTED.get(first["type"]) or first["msg"].removeprefix("Input should be ")
        raise SystemExit(f"{name} must be {expected}, got {first.get('input')!r}") from exc
