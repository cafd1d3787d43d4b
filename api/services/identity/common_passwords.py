"""Passwords too common to accept: the 30,000 most frequent in leaked password dumps.

The list is the one zxcvbn ships (PyPI `zxcvbn`, MIT licence; compiled from the Xato
10-million-password corpus); it is compared without regard to letter case.
"""

import functools

from zxcvbn.frequency_lists import FREQUENCY_LISTS


@functools.cache
def _common() -> frozenset[str]:
    return frozenset(password.lower() for password in FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    return password.lower() in _common() or len(set(password)) <= 2
