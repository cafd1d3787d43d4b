"""Embedded MongoDB-wire servers (a fresh one every hundred tests); a fresh database per test."""

import os
import uuid

import pytest
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

from api import create_app, db, migrations
from api.clock import utcnow
from api.extensions import limiter
from devserver.embedded import EmbeddedMongo
from jobs.context import worker_from_settings
from tests.factories import Factory
from tests.smtp_server import SmtpServer


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


class FreshServers:
    """Embedded servers, each replaced after `every` tests.

    SecantusDB slows down as databases come and go (every test creates and drops one): by
    the last third of the suite a test's set-up took five times as long as on a fresh server.
    A new in-memory server starts in about a second.
    """

    def __init__(self, every: int):
        self.every = every
        self.server: EmbeddedMongo | None = None
        self.uses = 0

    def uri_for_a_test(self) -> str:
        if self.server is None or self.uses >= self.every:
            self.close()
            self.server = EmbeddedMongo(test_commands=True).start()
            self.uses = 0
        self.uses += 1
        return f"mongodb://127.0.0.1:{self.server.port}/"

    def close(self) -> None:
        if self.server is not None:
            self.server.discard()
            self.server = None


@pytest.fixture(scope="session")
def mongo_servers():
    """TEST_MONGODB_URI, or embedded servers we start and replace as the suite goes on."""
    external = os.environ.get("TEST_MONGODB_URI")
    if external:
        uri = external.split("?")[0].rstrip("/") + "/"
        yield lambda: uri
        return
    servers = FreshServers(every=int(os.environ.get("TEST_TESTS_PER_SERVER", "100")))
    yield servers.uri_for_a_test
    servers.close()


@pytest.fixture
def mongo_server(mongo_servers):
    """The URI of the server this test runs against."""
    return mongo_servers()


def database_uri(server_uri: str, name: str) -> str:
    return f"{server_uri}{name}?directConnection=true"


@pytest.fixture
def db_name():
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def mongo_uri(mongo_server, db_name):
    uri = database_uri(mongo_server, db_name)
    yield uri
    client = MongoClient(uri, serverSelectionTimeoutMS=3000)
    client.drop_database(parse_uri(uri)["database"])
    client.close()


@pytest.fixture
def app_config(mongo_uri):
    return {"CAREPACT_ENV": "test", "MONGODB_URI": mongo_uri}


@pytest.fixture
def app(app_config):
    """The app on a fresh database, with the migrations `init` applies recorded (so the API
    and a `python -m jobs` subprocess accept it). The rest of `init` is left out to keep a
    test cheap: mongoengine creates a collection's indexes at its first use, and tests that
    need the starter library load it."""
    app = create_app(app_config)
    migrations.migrate(now=utcnow())
    with app.app_context():
        yield app
    limiter.storage.close()
    db.disconnect()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def mongo(app):
    """The raw database, for asserting what is stored."""
    return db.database()


@pytest.fixture
def worker(app):
    """What `python -m jobs` hands each job, built from the test app's settings."""
    return worker_from_settings(dict(app.config), name="test-worker")


@pytest.fixture
def factory(app):
    return Factory(app)


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free 127.0.0.1 port; what arrives is collected.

    - `smtp_server.messages`: every `Received` (`.mail_from`, `.rcpt_tos`, `.to`, `.subject`,
      `.text`, `.message`: the parsed `email.message.EmailMessage`), in arrival order;
      `smtp_server.to(address)` those for one recipient.
    - `smtp_server.deliver_outbox(now=None)`: run the worker's send_outbox job once in this
      process (real SMTP to this server); returns its counts, e.g. `{"mail_sent": 1}`.
    - `smtp_server.settings`: `{"SMTP_URL", "MAIL_FROM"}` for an app config or the env of a
      `python -m jobs` subprocess; then `smtp_server.wait_for(count, timeout=10)`.
    - `smtp_server.refuse_with = "550 No such user"` (or a 4xx) refuses every recipient.
    """
    server = SmtpServer().start()
    yield server
    server.stop()
