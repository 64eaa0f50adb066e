"""One typed settings object, read once at start-up from `VOXROUTE_*` environment variables."""

from __future__ import annotations

import json
import os
import stat
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voxroute.errors import ConfigError

# Provider SDKs read these silently when a key is None; a call server must never have them.
FORBIDDEN_PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "DEEPGRAM_API_KEY",
    "ELEVENLABS_API_KEY",
    "CARTESIA_API_KEY",
    "GROQ_API_KEY",
    "XAI_API_KEY",
    "AZURE_SPEECH_KEY",
    "INWORLD_API_KEY",
    "RESEMBLE_API_KEY",
    "RESEND_API_KEY",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_SECRET",
    "GOOGLE_API_KEY",
)

ManagedKeys = dict[str, dict[str, SecretStr]]
# Group and other permission bits: a file of secrets must have none of them.
PRIVATE_FILE_FORBIDDEN_BITS = stat.S_IRWXG | stat.S_IRWXO


class Settings(BaseSettings):
    """Every knob of a voxroute node. Defaults give the embedded single-machine set-up."""

    model_config = SettingsConfigDict(env_prefix="VOXROUTE_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".voxroute")
    database_url: str = ""
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str = ""
    log_level: str = "INFO"

    # Master-key provider: "local" keyring file, or AWS KMS.
    master_key_provider: Literal["local", "aws_kms"] = "local"
    keyring_path: Path | None = None
    aws_kms_key_id: str = ""
    aws_region: str = "us-east-1"
    aws_endpoint_url: str = ""

    # Platform (managed) provider keys: {"openai": {"api_key": "..."}}.
    managed_keys: ManagedKeys = Field(default_factory=dict)
    # Or the same JSON in a file only its owner can read: how `voxroute serve` hands the keys
    # to its workers, so they never sit in a process environment.
    managed_keys_file: Path | None = None
    # Platform-level provider endpoint overrides: {"openai": "http://127.0.0.1:9001"}.
    provider_base_urls: dict[str, str] = Field(default_factory=dict)
    twilio_api_base_url: str = ""
    # A number with carrier credentials routes calls only once the carrier lists it on that
    # account (no squatting another tenant's number); off only for offline tests.
    verify_carrier_numbers: bool = True
    # Start provider emulators in-process when no base URLs are given (the offline default).
    emulators: Literal["auto", "on", "off"] = "auto"

    demo_org: bool = True
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_ws_message_bytes: int = Field(default=64 * 1024, ge=1024)
    # Websocket keepalive: a peer that has not answered a ping within the timeout is dropped
    # (a caller's side that stopped reading, or a half-open connection).
    ws_ping_interval_s: float = Field(default=20.0, gt=0)
    ws_ping_timeout_s: float = Field(default=20.0, gt=0)
    # Inbound media (telephony/inbound_guard.py): audio beyond real time plus this burst is
    # dropped; a stream whose dropped audio (forgiven at flood_dropped_s per flood_window_s)
    # exceeds flood_dropped_s is closed as `media_flood`. Other messages: events_per_s.
    inbound_audio_burst_s: float = Field(default=2.0, gt=0, le=60)
    inbound_flood_dropped_s: float = Field(default=5.0, gt=0)
    inbound_flood_window_s: float = Field(default=10.0, gt=0)
    inbound_events_per_s: float = Field(default=20.0, gt=0)
    # Slow HTTP clients (http_guard.py): a request's headers must arrive within the header
    # timeout, its body within the body timeout; idle kept-alive connections close after
    # the keep-alive timeout; beyond max_connections (per worker, websockets included) a
    # new connection is answered 503 at once. The cap stays below the open-file limit.
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_body_timeout_s: float = Field(default=30.0, gt=0)
    http_keep_alive_s: int = Field(default=5, ge=1)
    max_connections: int = Field(default=1000, ge=1)
    validation_rate_per_minute: int = Field(default=10, ge=1)

    # Calls and capacity.
    workers: int = Field(default=0, ge=0)
    # The operator's ceiling. Below it each worker admits what it measures it can carry
    # (calls/registry.py: the busy share a live call costs, projected to one more call,
    # against loop_busy_limit_pct), so one default fits a slow and a fast core; 200 is
    # about what the fastest machine measured held within the bounds (BENCHMARKS.md).
    max_calls_per_worker: int = Field(default=200, ge=1)
    loop_lag_limit_ms: float = Field(default=150.0, gt=0)
    # New calls are refused while the worker's event-loop thread was on the CPU more than
    # this share of the last 2 s (100: never). The latency bounds start to fail from ~60 %
    # busy, and set-ups collapse into seconds at ~75 % (bench/capacity.py with and without).
    loop_busy_limit_pct: float = Field(default=70.0, gt=0, le=100)
    # Calls setting up at once per worker (each needs up to two database connections).
    max_concurrent_setups: int = Field(default=4, ge=1, le=16)
    call_token_ttl_s: int = Field(default=60, ge=5)
    # A SIGTERM drains the node: live calls go on for at most this long, then hear the
    # goodbye (a second SIGTERM ends them at once). Rolling restarts wait this long at most.
    drain_deadline_s: float = Field(default=600.0, gt=0)
    # After the last call ended, open connections get this long to finish before they close.
    shutdown_grace_s: float = Field(default=30.0, gt=0)
    # Several nodes: each worker writes a heartbeat row (`nodes`) this often; a worker not
    # heard from for `node_dead_after_s` is dead and its calls are settled and hung up.
    node_heartbeat_s: float = Field(default=5.0, gt=0)
    node_dead_after_s: float = Field(default=20.0, gt=0)
    # How this node shows in GET /admin/nodes (default: the host name; host:port).
    node_name: str = Field(default="", max_length=40)
    node_address: str = Field(default="", max_length=200)
    # Generation-1 collections between full ones (CPython: 10); see gc_policy.py.
    gc_full_after: int = Field(default=1000, ge=1)
    platform_fee_per_minute_micros: int = Field(default=10_000, ge=0)
    min_call_balance_micros: int = Field(default=50_000, ge=0)
    # Credit held per call, how long a hold lives unextended, and the billing tickers.
    call_hold_micros: int = Field(default=100_000, ge=1)
    call_hold_ttl_s: int = Field(default=120, ge=5)
    hold_extend_interval_s: float = Field(default=30.0, gt=0)
    billing_sweep_interval_s: float = Field(default=30.0, gt=0)
    # Per-org concurrency slot lease (renewed every third of it while a call runs).
    org_slot_lease_s: float = Field(default=30.0, gt=0)
    # REST API requests per organization and worker: sustained rate and burst.
    api_rate_per_s: float = Field(default=20.0, gt=0)
    api_rate_burst: int = Field(default=60, ge=1)
    # Bearer token Prometheus presents to scrape /metrics (a platform-admin token works too);
    # unset, only platform-admin tokens may scrape.
    metrics_token: SecretStr | None = None
    # REST API requests use a connection pool of their own, so a flood of API reads can
    # never make a webhook or a call set-up wait; a request that cannot get a connection
    # within the timeout answers 503 at once.
    api_db_pool_size: int = Field(default=5, ge=1, le=100)
    api_db_pool_timeout_s: float = Field(default=3.0, gt=0, le=60)

    @field_validator("public_url", "twilio_api_base_url", "aws_endpoint_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("provider_base_urls")
    @classmethod
    def _strip_slashes(cls, value: dict[str, str]) -> dict[str, str]:
        return {provider: url.rstrip("/") for provider, url in value.items()}

    @model_validator(mode="before")
    @classmethod
    def _read_managed_keys_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("managed_keys_file"):
            return data
        if data.get("managed_keys"):
            raise ValueError("set managed keys or a managed keys file, not both")
        path = Path(data["managed_keys_file"])
        try:
            if path.stat().st_mode & PRIVATE_FILE_FORBIDDEN_BITS:
                raise ValueError("the managed keys file must be readable by its owner only (0600)")
            data = {**data, "managed_keys": json.loads(path.read_text())}
        except (OSError, json.JSONDecodeError) as exc:
            # The reason by type only: a parse error would quote the file (a key).
            raise ValueError(f"cannot read the managed keys file ({type(exc).__name__})") from None
        return data

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.env == "production":
            if self.database_url.startswith("sqlite") or not self.database_url:
                raise ValueError("production requires VOXROUTE_DATABASE_URL (PostgreSQL)")
            if not self.public_url.startswith("https://"):
                raise ValueError("production requires an https:// VOXROUTE_PUBLIC_URL")
        if self.master_key_provider == "aws_kms" and not self.aws_kms_key_id:
            raise ValueError("VOXROUTE_AWS_KMS_KEY_ID is required with master_key_provider=aws_kms")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voxroute.db').resolve()}"

    @cached_property
    def resolved_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @cached_property
    def resolved_keyring_path(self) -> Path:
        return self.keyring_path or self.data_dir / "keyring.json"

    @property
    def use_emulators(self) -> bool:
        if self.emulators == "auto":
            return not self.provider_base_urls
        return self.emulators == "on"


def check_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse to start when provider SDK key variables are present (they bill the platform)."""
    env = os.environ if environ is None else environ
    present = sorted(name for name in FORBIDDEN_PROVIDER_ENV if env.get(name))
    if present:
        raise ConfigError(
            "refusing to start: provider SDK variables are set in the environment "
            f"({', '.join(present)}); configure managed keys with VOXROUTE_MANAGED_KEYS instead"
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise ConfigError with a clear message on bad input."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # Never echo input values: a malformed VOXROUTE_MANAGED_KEYS would print the key.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(f"invalid settings: {problems}") from None
