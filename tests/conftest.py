"""One embedded MongoDB-wire server for the session; a fresh database for every test."""

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


@pytest.fixture(scope="session")
def mongo_server():
    """The URI of the server under test: TEST_MONGODB_URI, or an embedded one we start."""
    external = os.environ.get("TEST_MONGODB_URI")
    if external:
        yield external.split("?")[0].rstrip("/") + "/"
        return
    server = EmbeddedMongo(test_commands=True).start()
    yield f"mongodb://127.0.0.1:{server.port}/"
    server.stop()


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
