"""The identity services' settings: token lifetimes and the password hash profile.

Built from the app's configuration where the app is built (`create_app` installs them), so
the services read plain values, in any thread, without an application context.
"""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class IdentitySettings:
    access_ttl: timedelta
    refresh_ttl: timedelta  # also how long a revocation must outlive the tokens it voids
    hash_profile: str  # a key of passwords.HASH_PROFILES

    @classmethod
    def from_config(cls, config) -> "IdentitySettings":
        return cls(
            access_ttl=config["JWT_ACCESS_TOKEN_EXPIRES"],
            refresh_ttl=config["JWT_REFRESH_TOKEN_EXPIRES"],
            hash_profile=config["PASSWORD_HASH_PROFILE"],
        )


_installed: IdentitySettings | None = None


def install(settings: IdentitySettings) -> IdentitySettings | None:
    """Make these the settings in force; returns the ones they replace."""
    global _installed
    replaced, _installed = _installed, settings
    return replaced


def current() -> IdentitySettings:
    if _installed is None:
        raise RuntimeError("Identity settings are installed by create_app; build the app first.")
    return _installed
