"""The words of the account mails: a sign-up code, a notice, a reset code, a set-up code."""

from datetime import timedelta


def _hours(valid: timedelta) -> str:
    hours = int(valid.total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{int(valid.total_seconds() // 60)} minutes"


FOOTER = "\n\nCarePact, for you and your care team.\n"


def signup_code(name: str, code: str, valid: timedelta) -> tuple[str, str]:
    return (
        f"Your CarePact code: {code}",
        f"Hello {name},\n\nYour code to finish signing up to CarePact is:\n\n    {code}\n\n"
        f"Enter it in the app within {_hours(valid)}. If you did not sign up, ignore this "
        "mail: no account is made without the code." + FOOTER,
    )


def signup_notice() -> tuple[str, str]:
    return (
        "Someone tried to sign up to CarePact with your address",
        "Hello,\n\nSomeone tried to create a CarePact account with this address, which "
        'already has one. If it was you, sign in instead, or choose "Forgot password" to '
        "set a new password. If it was not you, you need not do anything: your account is "
        "unchanged." + FOOTER,
    )


def reset_code(name: str, code: str, valid: timedelta) -> tuple[str, str]:
    return (
        f"Your CarePact password reset code: {code}",
        f"Hello {name},\n\nSomeone (we hope you) asked to reset your CarePact password. "
        f"Your code is:\n\n    {code}\n\nEnter it in the app within {_hours(valid)} with "
        "your new password; every device signed in to your account will be signed out. If "
        "you did not ask, ignore this mail: your password stays as it is." + FOOTER,
    )


def reset_unknown() -> tuple[str, str]:
    return (
        "CarePact password reset",
        "Hello,\n\nSomeone asked to reset the CarePact password of this address, but no "
        "CarePact account uses it. If you have an account, it may be under another address. "
        "If you did not ask, ignore this mail." + FOOTER,
    )


def setup_code(name: str, code: str, valid: timedelta) -> tuple[str, str]:
    return (
        f"Your CarePact provider account: code {code}",
        f"Hello {name},\n\nAn administrator created a CarePact provider account for this "
        f"address. Choose your password in CarePact with this code:\n\n    {code}\n\n"
        f'The code works for {_hours(valid)}; after that, use "Forgot password" to get a '
        "new one." + FOOTER,
    )
