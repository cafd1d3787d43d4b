"""Connect and disconnect mongoengine; nothing else."""

import mongoengine
import pymongo
from mongoengine.connection import get_db

from api.metrics import command_metrics

ALIAS = mongoengine.DEFAULT_CONNECTION_NAME
IN_BATCH = 20
_connected_to: tuple[str, int] | None = None


def connect(uri: str, timeout_ms: int) -> None:
    """(Re)connect the default alias lazily, so nothing touches the network before a fork.

    Several apps in one process (tests, two instances sharing a rate limit) reuse the client
    when they point at the same database.
    """
    global _connected_to
    if _connected_to == (uri, timeout_ms):
        return
    disconnect()
    mongoengine.connect(
        host=uri,
        alias=ALIAS,
        connect=False,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 5, 10_000),
        event_listeners=[command_metrics],
    )
    _connected_to = (uri, timeout_ms)


def disconnect() -> None:
    global _connected_to
    mongoengine.disconnect(ALIAS)
    _connected_to = None


def connected_uri() -> str:
    """The URI `connect` was last given."""
    if _connected_to is None:
        raise RuntimeError("api.db.connect() has not been called")
    return _connected_to[0]


def database() -> pymongo.database.Database:
    return get_db(ALIAS)


def ping(timeout_ms: int) -> None:
    """Raise a PyMongoError unless the database answers within the timeout."""
    with pymongo.timeout(timeout_ms / 1000):
        database().command("ping")


def database_name(uri: str) -> str:
    """The database named in the URI's path (pymongo's rule), `carepact` when it has none."""
    return pymongo.uri_parser.parse_uri(uri).get("database") or "carepact"


def find_in(collection, field: str, values, projection=None):
    """`{field: {$in: values}}` in small batches: the embedded server's `$in` costs grow
    with the square of the list, and a handful of values per query keeps it linear."""
    values = list(values)
    for start in range(0, len(values), IN_BATCH):
        yield from collection.find({field: {"$in": values[start : start + IN_BATCH]}}, projection)
