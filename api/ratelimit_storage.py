"""limits' MongoDB storage for flask-limiter, shared by every worker through the database.

The stock class opens a client in `__del__` when it never had one (noisy at shutdown, and
one leaked client per app in tests); this one closes only a client it actually opened.
"""

from limits.storage import MongoDBStorage

SCHEME_PREFIX = "carepact+"


class SharedMongoStorage(MongoDBStorage):
    STORAGE_SCHEME = ["carepact+mongodb", "carepact+mongodb+srv"]

    def __init__(self, uri: str, **options):
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)

    def close(self) -> None:
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    def __del__(self) -> None:
        self.close()


def storage_uri(mongodb_uri: str) -> str:
    return SCHEME_PREFIX + mongodb_uri
