"""Settings for every process, read from `HELPDESK_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HELPDESK_", env_file=".env", extra="ignore"
    )

    temporal_address: str = Field(
        default="localhost:7233", description="Temporal frontend host:port"
    )
    temporal_namespace: str = "default"
    task_queue: str = "helpdesk-tickets"
    database_url: str = Field(
        default="sqlite+aiosqlite:///./.data/helpdesk.db",
        description="SQLAlchemy async URL; postgresql+asyncpg://... in production",
    )
    sla_policy_file: Path | None = Field(
        default=None, description="SLA policy YAML; the built-in default when unset"
    )
    roster_file: Path | None = Field(
        default=None,
        description="specialist roster YAML seeded at start (built-in when unset)",
    )
    routing_file: Path | None = Field(
        default=None,
        description="category-to-role routing YAML; the built-in routing when unset",
    )
    classification_file: Path | None = Field(
        default=None,
        description="classification rules YAML; the built-in rules when unset",
    )
    classification_examples: Path | None = Field(
        default=None,
        description="labelled JSONL file, or folder of them, that the text model "
        "learns from besides the built-in examples",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="where the trained text model is kept between starts; "
        "$XDG_CACHE_HOME/helpdesk or ~/.cache/helpdesk when unset",
    )
    notification_channel: str = Field(default="log", description="log or webhook")
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    webhook_timeout_seconds: float = 5.0
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_body_bytes: int = 256 * 1024
    log_format: str = Field(default="auto", description="auto, console or json")
    log_level: str = "INFO"


@lru_cache
def get_settings() -> Settings:
    return Settings()
