"""Settings read from the environment: the one list of knobs (see README)."""

import os
from dataclasses import dataclass


def _int_env(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc
    return max(minimum, min(maximum, value))


@dataclass(frozen=True)
class Settings:
    table_name: str
    event_horizon_days: int
    max_future_events: int
    ready_window_seconds: int
    api_key_cache_seconds: int
    event_bus_name: str
    history_retention_days: int = 365
    # Kener's status page the API's `url` fields point into ("" leaves them out).
    public_site_url: str = ""

    @property
    def horizon_seconds(self) -> int:
        return self.event_horizon_days * 86400


def load_settings() -> Settings:
    """Read settings now (not at import) so tests and tools can change them."""
    return Settings(
        table_name=os.environ.get("TABLE_NAME", "maintenance-windows"),
        event_horizon_days=_int_env("EVENT_HORIZON_DAYS", 30, 1, 3660),
        max_future_events=_int_env("MAX_FUTURE_EVENTS", 500, 1, 10000),
        ready_window_seconds=_int_env("READY_WINDOW_SECONDS", 300, 0, 86400),
        api_key_cache_seconds=_int_env("API_KEY_CACHE_SECONDS", 30, 0, 60),
        event_bus_name=os.environ.get("EVENT_BUS_NAME", "default") or "default",
        history_retention_days=_int_env("HISTORY_RETENTION_DAYS", 365, 0, 36600),
        public_site_url=os.environ.get("PUBLIC_SITE_URL", "").strip().rstrip("/"),
    )
