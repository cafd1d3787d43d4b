"""CarePact API: `create_app(config=None)` builds the Flask app."""

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api import db
from api.config import load_settings, secret_weakness
from api.extensions import api, jwt, limiter, spec_kwargs
from api.http_headers import register_response_headers
from api.idempotency import register_idempotency
from api.json_body import StrictJSONProvider
from api.observability import configure_logging, register_request_hooks
from api.ratelimit_storage import storage_uri
from api.request_body import register_body_checks
from api.services.identity import settings as identity_settings

API_SETTINGS = {
    "API_TITLE": "CarePact API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Backend of the CarePact patient self-management app for primary "
            "care partnerships. Errors are application/problem+json; lists are paginated with "
            "`page`/`page_size` and an `X-Pagination` header.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
        "security": [{"bearerAuth": []}],
    },
    # The API reads bearer headers only; the console asks for its cookies explicitly
    # (api/console/session.py), so these settings shape the console's cookies alone.
    "JWT_TOKEN_LOCATION": ["headers"],
    "JWT_COOKIE_SECURE": True,
    "JWT_COOKIE_SAMESITE": "Strict",
    "JWT_ACCESS_COOKIE_PATH": "/console/",
    "JWT_REFRESH_COOKIE_PATH": "/console/",
    "JWT_COOKIE_CSRF_PROTECT": True,
    "JWT_CSRF_CHECK_FORM": True,
    # The CSRF value travels in each form, rendered from the token; no script-readable cookie.
    "JWT_CSRF_IN_COOKIES": False,
    "PROPAGATE_EXCEPTIONS": False,
    "RATELIMIT_HEADERS_ENABLED": True,
}


def create_app(config: dict | None = None) -> Flask:
    settings = load_settings(overrides=config)
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    trust_proxies(app, settings["TRUSTED_PROXY_HOPS"])
    app.config.update(API_SETTINGS)
    app.config.update(settings)
    configure_logging(app.config["LOG_LEVEL"])
    warn_of_a_weak_secret(app.config)
    db.connect(app.config["MONGODB_URI"], app.config["MONGODB_TIMEOUT_MS"])
    register_body_checks(app)
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_response_headers(app)
    register_idempotency(app)
    register_commands(app)
    install_service_settings(app.config)
    return app


def install_service_settings(config) -> None:
    """What the services read besides their arguments, for the API and the jobs worker
    alike: the identity settings, and the templates shipped with the code, checked by the
    API's schemas (a broken file stops the process here)."""
    from api.schemas import shipped
    from api.services.alerts import rules
    from api.services.care import agreement_templates

    identity_settings.install(identity_settings.IdentitySettings.from_config(config))
    agreement_templates.install_builtins(shipped.templates())
    rules.install_template_defaults(shipped.template_alert_rules())


def warn_of_a_weak_secret(config) -> None:
    """Development may sign with the public development secret, but says so at start."""
    weakness = secret_weakness(config["JWT_SECRET_KEY"])
    if weakness and config["CAREPACT_ENV"] == "development":
        logging.getLogger("carepact.config").warning(
            "JWT_SECRET_KEY %s: tokens are signed with a secret anyone can know; "
            "never expose this server (production refuses to start with it)",
            weakness,
        )


def trust_proxies(app: Flask, hops: int) -> None:
    """Behind N load balancers, take the client address (rate limits) from X-Forwarded-*."""
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(app.config["MONGODB_URI"]))
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", {"database_name": db.database_name(app.config["MONGODB_URI"])}
    )
    api.init_app(app, spec_kwargs=spec_kwargs())
    jwt.init_app(app)
    limiter.init_app(app)


def register_blueprints(app: Flask) -> None:
    from api import fhir
    from api.console import register_console
    from api.nightscout import routes as nightscout
    from api.resources import BLUEPRINTS, docs, metrics

    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    api.register_blueprint(nightscout.blp)
    app.register_blueprint(docs.blp)
    app.register_blueprint(metrics.blp)
    register_console(app)
    app.register_blueprint(fhir.blp)


def register_commands(app: Flask) -> None:
    from api.cli import COMMANDS

    for command in COMMANDS:
        app.cli.add_command(command)
