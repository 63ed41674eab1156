"""Configuration read from the environment, typed and validated at start-up.

Every setting has a typed default that is safe for development. A bad value
stops the service before it serves a single request, with one message that
names every offending variable, instead of failing later inside a request.
The settings end up in ``app.config`` under the same names, so handlers read
them the Flask way: ``current_app.config["MAX_CONTENT_LENGTH"]``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105 - refused in production
ENVIRONMENTS = ("development", "production", "testing")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """Raised when the environment holds a value the service cannot run with."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The service settings; each field is read from the variable of its name."""

    APP_ENV: str = "development"
    SECRET_KEY: str = DEFAULT_SECRET_KEY
    HOST: str = "127.0.0.1"
    PORT: int = 8000
    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool | None = None
    MAX_CONTENT_LENGTH: int = 64 * 1024
    MESSAGES_MAX: int = 10_000
    GRACEFUL_TIMEOUT: float = 5.0
    HYPERCORN_CONFIG: str = "hypercorn.toml"

    @property
    def production(self) -> bool:
        """Whether the service runs with production safeguards."""
        return self.APP_ENV == "production"

    def to_flask_config(self) -> dict[str, Any]:
        """Return the settings as ``app.config`` keys, with derived defaults."""
        config = asdict(self)
        if self.LOG_JSON is None:
            config["LOG_JSON"] = self.production
        config["TESTING"] = self.APP_ENV == "testing"
        return config


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected a boolean (true/false, 1/0, yes/no, on/off)")


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}, got {value}")
        return value

    return parse


def _float_between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}, got {value}")
        return value

    return parse


def _one_of(*choices: str, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


PARSERS: dict[str, Callable[[str], Any]] = {
    "APP_ENV": _one_of(*ENVIRONMENTS),
    "SECRET_KEY": _non_empty,
    "HOST": _non_empty,
    "PORT": _int_between(0, 65535),
    "LOG_LEVEL": _one_of(*LOG_LEVELS, upper=True),
    "LOG_JSON": _parse_bool,
    "MAX_CONTENT_LENGTH": _int_between(1024, 1024**3),
    "MESSAGES_MAX": _int_between(1, 10_000_000),
    "GRACEFUL_TIMEOUT": _float_between(0.0, 600.0),
    "HYPERCORN_CONFIG": _non_empty,
}


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from *environ* (default ``os.environ``).

    *overrides* take precedence and are already typed (tests pass them).
    Every problem is collected, so one start-up attempt reports them all.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field in fields(Settings):
        raw = environ.get(field.name)
        if raw is None:
            continue
        try:
            values[field.name] = PARSERS[field.name](raw)
        except ValueError as error:
            problems.append(f"{field.name}: {error}")
    values.update({k: v for k, v in (overrides or {}).items() if k in PARSERS})

    settings = Settings(**values)
    if settings.production and settings.SECRET_KEY == DEFAULT_SECRET_KEY:
        problems.append(
            "SECRET_KEY: the development default is refused in production; "
            "set a random value, for example from "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings
