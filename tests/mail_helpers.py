"""Reading what the account mails carry."""

import re


def mailed_code(mail) -> str:
    """The six-digit code in a received mail."""
    [code] = re.findall(r"^\s+(\d{6})\s*$", mail.text, re.MULTILINE)
    return code
