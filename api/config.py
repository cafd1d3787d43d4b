"""Settings from the environment (12-factor).

Every setting is read here and nowhere else; the README's configuration table lists them.
`create_app(config)` may override any of them (tests do).
"""

import math
import os
import re
from collections import Counter
from datetime import timedelta

ENVIRONMENTS = ("development", "test", "production")
# Where the development secret and the light password hashes may be used.
RELAXED_ENVIRONMENTS = ("development", "test")
DEVELOPMENT_SECRET = "carepact-development-secret-do-not-use-in-production"  # noqa: S105  # nosec B105
# Defaults found in tutorials, templates and this repository; any secret containing one of
# them (in any case, with any punctuation) is a variant of it.
KNOWN_DEFAULT_SECRETS = (
    DEVELOPMENT_SECRET,
    "secret",
    "changeme",
    "change-me",
    "jwt-secret",
    "password",
    "carepact",
    "default",
    "replace-me",
    "your-key",
    "example",
)
MIN_SECRET_LENGTH = 32
# Estimated from the secret's own characters: a random 32-character hex or base64 secret
# passes, a repeated or dictionary phrase does not.
MIN_SECRET_BITS_PER_CHAR = 2.5
MIN_SECRET_BITS = 80
# Share of its 3-character runs a secret may repeat ("0123456789" * 5 repeats most).
MAX_REPEATED_TRIGRAMS = 0.4
DEFAULT_MONGODB_URI = "mongodb://127.0.0.1:27027/carepact?directConnection=true"


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to change."""


def _int(environ, name, default):
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def load_settings(environ=None, overrides=None) -> dict:
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    # Unset means production: the relaxed environments must be asked for by name.
    env_name = overrides.get("CAREPACT_ENV") or environ.get("CAREPACT_ENV") or "production"
    if env_name not in ENVIRONMENTS:
        raise ConfigError(
            f"CAREPACT_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env_name!r}"
        )

    settings = {
        "CAREPACT_ENV": env_name,
        "TESTING": env_name == "test",
        "MONGODB_URI": environ.get("MONGODB_URI", DEFAULT_MONGODB_URI),
        "MONGODB_TIMEOUT_MS": _int(environ, "MONGODB_TIMEOUT_MS", 3000),
        "READY_TIMEOUT_MS": _int(environ, "READY_TIMEOUT_MS", 1500),
        "JWT_SECRET_KEY": environ.get("JWT_SECRET_KEY")
        or (DEVELOPMENT_SECRET if env_name in RELAXED_ENVIRONMENTS else None),
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=_int(environ, "ACCESS_TOKEN_TTL", 900)),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(
            seconds=_int(environ, "REFRESH_TOKEN_TTL", 30 * 24 * 3600)
        ),
        "MAX_CONTENT_LENGTH": _int(environ, "MAX_BODY_BYTES", 1024 * 1024),
        "LOGIN_RATE_LIMIT": environ.get("LOGIN_RATE_LIMIT", "5 per 5 minutes"),
        "LOGIN_ADDRESS_RATE_LIMIT": environ.get("LOGIN_ADDRESS_RATE_LIMIT", "20 per 5 minutes"),
        "REGISTER_RATE_LIMIT": environ.get("REGISTER_RATE_LIMIT", "10 per hour"),
        "PASSWORD_RESET_RATE_LIMIT": environ.get("PASSWORD_RESET_RATE_LIMIT", "10 per hour"),
        "CODE_RATE_LIMIT": environ.get("CODE_RATE_LIMIT", "10 per 15 minutes"),
        "PASSWORD_CHECK_RATE_LIMIT": environ.get("PASSWORD_CHECK_RATE_LIMIT", "5 per 5 minutes"),
        "MINOR_AGE": _int(environ, "MINOR_AGE", 16),
        "PUSH_CHANNEL": environ.get("PUSH_CHANNEL", "log"),
        "PUSH_WEBHOOK_URL": environ.get("PUSH_WEBHOOK_URL"),
        "PUSH_WEBHOOK_SECRET": environ.get("PUSH_WEBHOOK_SECRET"),
        "PUSH_TIMEOUT_S": _int(environ, "PUSH_TIMEOUT_S", 5),
        "PUSH_MAX_ATTEMPTS": _int(environ, "PUSH_MAX_ATTEMPTS", 8),
        "OUTBOX_BACKOFF_S": _int(environ, "OUTBOX_BACKOFF_S", 15),
        "SMTP_URL": environ.get("SMTP_URL"),
        "SMTP_TIMEOUT_S": _int(environ, "SMTP_TIMEOUT_S", 10),
        "MAIL_FROM": environ.get("MAIL_FROM", "CarePact <no-reply@carepact.localhost>"),
        "MAIL_DIR": environ.get("MAIL_DIR", "var/mail"),
        "MAIL_MAX_ATTEMPTS": _int(environ, "MAIL_MAX_ATTEMPTS", 10),
        # Tests only: every scheduled job runs at least this often (seconds), so a test sees
        # the deployed worker deliver without waiting minutes.
        "JOBS_TEST_INTERVAL_S": _int(environ, "JOBS_TEST_INTERVAL_S", 0),
        "FCM_PROJECT_ID": environ.get("FCM_PROJECT_ID"),
        "FCM_CREDENTIALS_FILE": environ.get("FCM_CREDENTIALS_FILE"),
        "FCM_BASE_URL": environ.get("FCM_BASE_URL", "https://fcm.googleapis.com"),
        "CORS_ORIGINS": [o for o in environ.get("CORS_ORIGINS", "").split(",") if o],
        "LOG_LEVEL": environ.get("LOG_LEVEL", "INFO"),
        "METRICS_TOKEN": environ.get("METRICS_TOKEN") or None,
        "TRUSTED_PROXY_HOPS": _int(environ, "TRUSTED_PROXY_HOPS", 0),
        "PASSWORD_HASH_PROFILE": "light" if env_name == "test" else "standard",
    }
    settings.update(overrides)
    settings["CAREPACT_ENV"] = env_name
    check_settings(settings)
    return settings


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def secret_weakness(secret: str | None) -> str | None:
    """Why a signing secret is unfit for production, or None when it looks random."""
    if not secret:
        return "is not set"
    letters = _letters(secret)
    if any(_letters(default) in letters for default in KNOWN_DEFAULT_SECRETS):
        return "is a known default or a variant of one"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is too short ({len(secret)} characters; at least {MIN_SECRET_LENGTH})"
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    trigrams = [secret[i : i + 3] for i in range(len(secret) - 2)]
    repeats = 1 - len(set(trigrams)) / len(trigrams)
    if (
        per_char < MIN_SECRET_BITS_PER_CHAR
        or per_char * len(secret) < MIN_SECRET_BITS
        or repeats > MAX_REPEATED_TRIGRAMS
    ):
        return "is too low in entropy (repeated or patterned characters)"
    return None


def check_settings(settings: dict) -> None:
    """Refuse configurations that must never run; outside development and test, a weak
    signing secret is refused."""
    if settings.get("JOBS_TEST_INTERVAL_S") and settings["CAREPACT_ENV"] != "test":
        raise ConfigError("JOBS_TEST_INTERVAL_S is for tests only (CAREPACT_ENV=test)")
    if settings["CAREPACT_ENV"] in RELAXED_ENVIRONMENTS:
        return
    if settings.get("PASSWORD_HASH_PROFILE") != "standard":
        raise ConfigError("production hashes passwords with the standard argon2id profile")
    weakness = secret_weakness(settings.get("JWT_SECRET_KEY"))
    if weakness:
        raise ConfigError(
            f"JWT_SECRET_KEY {weakness}; production needs a random secret of at least "
            f"{MIN_SECRET_LENGTH} characters, e.g. `python -c 'import secrets; "
            f"print(secrets.token_urlsafe(48))'` (or set CAREPACT_ENV=development)"
        )
    metrics_token = settings.get("METRICS_TOKEN")
    if metrics_token and len(metrics_token) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"METRICS_TOKEN is too short ({len(metrics_token)} characters); "
            f"production needs at least {MIN_SECRET_LENGTH} or none (metrics closed)"
        )
