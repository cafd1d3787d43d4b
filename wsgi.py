"""gunicorn wsgi:app"""

import sys

from api import create_app
from api.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    print(f"CarePact refuses to start: {error}", file=sys.stderr)
    sys.exit(1)
