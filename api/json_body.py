"""Strict parsing of JSON request bodies: hostile shapes become a 400, never a 500.

The stdlib parser accepts things MongoDB or the rest of the stack cannot take: lone UTF-16
surrogates (unencodable, so the driver fails on write), NUL in keys, nesting deep enough
to raise RecursionError, and integers too long to convert (a ValueError). Both Flask's
`request.get_json` and webargs use `loads_strict`.
"""

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

MAX_DEPTH = 32


def _reject(message: str, text: str) -> json.JSONDecodeError:
    return json.JSONDecodeError(message, text, 0)


def _check_string(value: str, text: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _reject("text contains an unpaired surrogate", text) from None


def _check(value: Any, depth: int, text: str) -> None:
    if depth > MAX_DEPTH:
        raise _reject(f"nested deeper than {MAX_DEPTH} levels", text)
    if isinstance(value, str):
        _check_string(value, text)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(key, text)
            if "\x00" in key:
                raise _reject("a key contains a NUL character", text)
            _check(item, depth + 1, text)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1, text)


def loads_strict(raw: str | bytes) -> Any:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            # A non-empty doc: webargs reads an empty one as "no body at all".
            raise _reject(f"not UTF-8: {error.reason}", raw.decode("utf-8", "replace")) from None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _reject("nested too deeply", raw) from None
    except json.JSONDecodeError:
        raise
    except ValueError as error:
        # Python refuses to convert integers of more than 4,300 digits (a plain ValueError).
        raise _reject(f"a number is too long: {error}", raw) from None
    _check(data, 0, raw)
    return data


class StrictJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_strict(s)


class StrictArgumentsParser(FlaskParser):
    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        return loads_strict(req.get_data(cache=True))
