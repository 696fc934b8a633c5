"""The server's configuration: one frozen object built once from `MP_*` environment variables.

Nothing else reads the environment. Bad values fail start-up with a message naming the variable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from mlmp_server.core.buckets import RateLimit


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint_url: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""
    prefix: str = ""


DEFAULT_SIGNAL_RATE = RateLimit(per_second=10_000.0, burst=20_000.0)
DEFAULT_RATE_LIMITS = {
    "read": RateLimit(per_second=20.0, burst=40.0),
    "write": RateLimit(per_second=5.0, burst=20.0),
    "signal_ingest": RateLimit(per_second=50.0, burst=100.0),
}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    """Where the SQLite database, the local blob store and the generated secret key live."""
    database_url: str
    """SQLAlchemy URL; `postgresql://` is normalised to the psycopg 3 driver."""
    grpc_addr: str = "127.0.0.1:50051"
    http_addr: str = "127.0.0.1:3010"
    grpc_public_target: str = ""
    """The gRPC target clients are told to use (discovery); empty: derived from `grpc_addr`."""
    log_level: str = "INFO"
    production: bool = False
    secret_key: bytes | None = None
    """Keys token digests (and later URL signatures). Empty: generated into the data dir."""
    introspection_ttl: float = 60.0
    introspection_negative_ttl: float = 5.0
    introspection_url: str = ""
    """A remote RFC 7662 endpoint; empty: introspect against the local database."""
    introspection_token: str = ""
    """Bearer token presented to the remote introspection endpoint."""
    shutdown_grace: float = 10.0
    cors_origins: tuple[str, ...] = ()
    """Frontend origins allowed to call the HTTP API from a browser."""
    gateway_timeout: float = 30.0
    """Deadline of a unary call through the gateway when the request sends no Grpc-Timeout."""
    public_url: str = ""
    """The HTTP address clients use, for links the server hands out; empty: the bound HTTP address."""
    run_lease: float = 60.0
    """A running training run that sends no heartbeat for this long is lost."""
    demo_round: bool = True
    """Publish a demo round (synthetic prices) on a database that has none."""
    demo_replay_speed: float = 17280.0
    """With the demo round: new synthetic bars continuing its prices, at this many market seconds per second
    (17280: a daily bar every 5 s), on one replica; 0: none."""
    s3: S3Settings | None = None
    """An S3-compatible bucket for blobs (MP_S3_BUCKET and friends); None: the data dir."""
    signing_keys: str = ""
    """`kid:secret,…` for signed download URLs, the first signing; empty: one derived from the secret key."""
    rate_limits: Mapping[str, RateLimit] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    """Token buckets per principal and rate class (calls per second, burst)."""
    signal_rate: RateLimit = DEFAULT_SIGNAL_RATE
    """Signals per second (and burst) one deployment may store; faster streams are told to slow down."""
    heartbeat_timeout: float = 90.0
    """A live deployment with no heartbeat for this long shows as unhealthy."""
    deliver_to_private: bool = False
    """Deliver signals to linked URLs on loopback or private addresses too (development only)."""

    @property
    def uses_default_database(self) -> bool:
        return self.database_url == default_database_url(self.data_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = {k: v for k, v in environ.items() if k.startswith("MP_") and v != ""}
        production = _parse_choice(env, "MP_ENV", {"development", "production"}, "development") == "production"
        if production:
            missing = [name for name in ("MP_SECRET_KEY", "MP_DATABASE_URL") if name not in env]
            if missing:
                raise SettingsError(
                    f"MP_ENV=production needs {', '.join(missing)} set (for example through your secrets "
                    "manager: `doppler run -- mp-server`); refusing to start with generated secrets."
                )
        data_dir = Path(env.get("MP_DATA_DIR") or platformdirs.user_data_dir("ml-marketplace")).expanduser()
        database_url = normalise_database_url(env.get("MP_DATABASE_URL") or default_database_url(data_dir))
        if "MP_INTROSPECTION_URL" in env and "MP_INTROSPECTION_TOKEN" not in env:
            raise SettingsError(
                "MP_INTROSPECTION_URL needs MP_INTROSPECTION_TOKEN: a token with the auth:introspect scope "
                "on the server that answers introspection."
            )
        secret = env.get("MP_SECRET_KEY")
        if secret is not None and len(secret) < 32:
            raise SettingsError("MP_SECRET_KEY must be at least 32 characters of random text.")
        limits = {
            name: RateLimit(
                _parse_float(env, f"MP_RATE_{name.upper()}", default.per_second),
                _parse_float(env, f"MP_RATE_{name.upper()}_BURST", default.burst),
            )
            for name, default in DEFAULT_RATE_LIMITS.items()
        }
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            grpc_addr=_parse_addr(env, "MP_GRPC_ADDR", "127.0.0.1:50051"),
            http_addr=_parse_addr(env, "MP_HTTP_ADDR", "127.0.0.1:3010"),
            grpc_public_target=env.get("MP_GRPC_PUBLIC_TARGET", ""),
            log_level=_parse_choice(env, "MP_LOG_LEVEL", {"DEBUG", "INFO", "WARNING", "ERROR"}, "INFO", upper=True),
            production=production,
            secret_key=secret.encode() if secret else None,
            introspection_ttl=parse_duration(env.get("MP_INTROSPECTION_TTL", "60s"), "MP_INTROSPECTION_TTL"),
            introspection_negative_ttl=parse_duration(
                env.get("MP_INTROSPECTION_NEGATIVE_TTL", "5s"), "MP_INTROSPECTION_NEGATIVE_TTL"
            ),
            introspection_url=env.get("MP_INTROSPECTION_URL", ""),
            introspection_token=env.get("MP_INTROSPECTION_TOKEN", ""),
            shutdown_grace=parse_duration(env.get("MP_SHUTDOWN_GRACE", "10s"), "MP_SHUTDOWN_GRACE"),
            rate_limits=limits,
            cors_origins=_parse_origins(env.get("MP_CORS_ORIGINS", "")),
            gateway_timeout=parse_duration(env.get("MP_GATEWAY_TIMEOUT", "30s"), "MP_GATEWAY_TIMEOUT"),
            public_url=_parse_public_url(env.get("MP_PUBLIC_URL", "")),
            signing_keys=_checked_signing_keys(env.get("MP_SIGNING_KEYS", "")),
            demo_round=_parse_bool(env, "MP_DEMO_ROUND", True),
            demo_replay_speed=_parse_speed(env, "MP_DEMO_REPLAY_SPEED", 17280.0),
            run_lease=parse_duration(env.get("MP_RUN_LEASE", "60s"), "MP_RUN_LEASE"),
            signal_rate=RateLimit(
                _parse_float(env, "MP_SIGNAL_RATE", DEFAULT_SIGNAL_RATE.per_second),
                _parse_float(env, "MP_SIGNAL_RATE_BURST", DEFAULT_SIGNAL_RATE.burst),
            ),
            heartbeat_timeout=parse_duration(
                env.get("MP_DEPLOYMENT_HEARTBEAT_TIMEOUT", "90s"), "MP_DEPLOYMENT_HEARTBEAT_TIMEOUT"
            ),
            deliver_to_private=_parse_bool(env, "MP_DELIVER_TO_PRIVATE", False),
            s3=S3Settings(
                bucket=env["MP_S3_BUCKET"],
                endpoint_url=env.get("MP_S3_ENDPOINT", ""),
                region=env.get("MP_S3_REGION", "us-east-1"),
                access_key_id=env.get("MP_S3_ACCESS_KEY_ID", ""),
                secret_access_key=env.get("MP_S3_SECRET_ACCESS_KEY", ""),
                prefix=env.get("MP_S3_PREFIX", ""),
            )
            if "MP_S3_BUCKET" in env
            else None,
        )


def default_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'marketplace.db'}"


def normalise_database_url(url: str) -> str:
    for plain in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if not url.startswith(("postgresql+psycopg://", "sqlite+aiosqlite://")):
        raise SettingsError(
            f"MP_DATABASE_URL must start with postgresql:// or sqlite:///, not {url.split(':', 1)[0]!r}."
        )
    return url


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str, name: str = "duration") -> float:
    """'90' and '90s' are seconds; 'ms', 'm', 'h' and 'd' are understood too."""
    match = _DURATION.match(text)
    if not match:
        raise SettingsError(f"{name}={text!r} is not a duration; use e.g. 60s, 5m, 1h or 7d.")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false", "1", "0"):
        raise SettingsError(f"{name}={value!r} must be true or false")
    return value.lower() in ("true", "1")


def _parse_speed(env: Mapping[str, str], name: str, default: float) -> float:
    """A replay speed: `60`, `60x` or `60X`; 0 turns the replay off."""
    text = env.get(name)
    if text is None:
        return default
    try:
        value = float(text.strip().removesuffix("x").removesuffix("X"))
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise SettingsError(f"{name}={text!r} must be a speed such as 17280x (market seconds per second), or 0")
    return value


def _parse_public_url(text: str) -> str:
    if text and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", text):
        raise SettingsError(f"MP_PUBLIC_URL={text!r} is not an http(s) URL such as https://mp.example.com")
    return text.rstrip("/")


def _checked_signing_keys(text: str) -> str:
    from mlmp_server.blobs.signing import parse_signing_keys

    if text:
        try:
            parse_signing_keys(text)
        except ValueError as error:
            raise SettingsError(str(error)) from None
    return text


def _parse_origins(text: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in text.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
            raise SettingsError(f"MP_CORS_ORIGINS: {origin!r} is not an origin such as https://trade.example.com")
    return origins


def _parse_float(env: Mapping[str, str], name: str, default: float) -> float:
    if name not in env:
        return default
    try:
        value = float(env[name])
    except ValueError:
        raise SettingsError(f"{name}={env[name]!r} is not a number.") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than 0.")
    return value


def _parse_choice(env: Mapping[str, str], name: str, choices: set[str], default: str, *, upper: bool = False) -> str:
    value = env.get(name, default)
    value = value.upper() if upper else value.lower()
    if value not in choices:
        raise SettingsError(f"{name}={env[name]!r} is not one of {', '.join(sorted(choices))}.")
    return value


def _parse_addr(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SettingsError(f"{name}={value!r} must be HOST:PORT, e.g. 127.0.0.1:50051 (port 0 picks a free one).")
    return value
