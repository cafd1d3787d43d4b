"""Security headers on every response, no caching of health data, and CORS by allow-list."""

import pytest
from flask import request

from api import create_app
from api.extensions import limiter

ALLOWED = "https://clinic.example.org"


@pytest.fixture
def cors_client(app_config):
    app = create_app({**app_config, "CORS_ORIGINS": [ALLOWED]})
    yield app.test_client()
    limiter.storage.close()


def test_client_address_comes_from_a_trusted_proxy_only(app_config):
    seen = []
    for hops in (0, 1):
        app = create_app({**app_config, "TRUSTED_PROXY_HOPS": hops})

        @app.get("/whoami")
        def whoami():
            seen.append(request.remote_addr)
            return {}

        app.test_client().get(
            "/whoami",
            headers={"X-Forwarded-For": "203.0.113.7"},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
    limiter.storage.close()
    assert seen == ["10.0.0.1", "203.0.113.7"]


def test_security_headers_on_api_and_error_responses(client):
    for response in (client.get("/health"), client.get("/api/v1/nothing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_health_data_is_never_cached(client, factory):
    response = client.get("/api/v1/me", headers=factory.headers(factory.patient()))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_docs_page_may_run_its_own_scripts(client):
    response = client.get("/api/v1/docs")
    assert "Content-Security-Policy" not in response.headers


def test_no_cors_headers_by_default(client):
    response = client.get("/health", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_listed_origin_is_echoed_never_a_wildcard(cors_client):
    response = cors_client.get("/health", headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in response.headers["Vary"]
    assert "X-Pagination" in response.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_an_unlisted_origin_gets_no_cors_headers(cors_client):
    response = cors_client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_lists_methods_and_headers(cors_client):
    response = cors_client.options(
        "/api/v1/me",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PATCH"},
    )
    assert response.status_code == 200
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    assert "If-Match" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
