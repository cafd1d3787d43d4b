"""gunicorn wsgi:app"""

import logging
import sys

import click
from pymongo.errors import PyMongoError

from api import create_app, db, migrations
from api.config import ConfigError


def refuse(reason) -> None:
    print(f"CarePact refuses to start: {reason}", file=sys.stderr)
    sys.exit(1)


try:
    app = create_app()
except ConfigError as error:
    refuse(error)

# Serving (not `flask --app wsgi init` or another command): never on a database left behind.
if click.get_current_context(silent=True) is None:
    try:
        migrations.check_current()
    except migrations.MigrationsBehind as error:
        refuse(error)
    except PyMongoError as error:
        # Started before its database: /ready says so until it answers (checked again by
        # the worker, which refuses as well).
        logging.getLogger("carepact").warning(
            "could not check the database's migrations", extra={"fields": {"error": str(error)}}
        )
    finally:
        # A client made before gunicorn forks must not be shared by the workers.
        db.disconnect()
        db.connect(app.config["MONGODB_URI"], app.config["MONGODB_TIMEOUT_MS"])
