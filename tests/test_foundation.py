"""The skeleton: factory, configuration, health, errors, OpenAPI, docs, request ids, CLI."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from api import create_app
from api.config import DEVELOPMENT_SECRET, ConfigError, load_settings
from api.errors import PROBLEM_JSON
from devserver.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
STRONG_SECRET = "Jx3vQ9-tLw2Rb8nZ_kd5HyP4mGs7Ae1UcVf6oWq0XiEr"


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    assert "Traceback" not in response.get_data(as_text=True)
    return body


class TestConfiguration:
    def test_each_environment_builds_an_app(self, mongo_uri):
        for env in ("development", "test"):
            app = create_app({"CAREPACT_ENV": env, "MONGODB_URI": mongo_uri})
            assert app.config["CAREPACT_ENV"] == env
            assert app.config["TESTING"] is (env == "test")
        production = create_app(
            {
                "CAREPACT_ENV": "production",
                "MONGODB_URI": mongo_uri,
                "JWT_SECRET_KEY": STRONG_SECRET,
            }
        )
        assert production.config["CAREPACT_ENV"] == "production"

    @pytest.mark.parametrize(
        "secret",
        [
            None,
            "",
            "short-secret",
            DEVELOPMENT_SECRET,
            "changeme",
            DEVELOPMENT_SECRET.upper() + "-2",
            "Change_Me!" * 5,
            "x" * 48,
            "0123456789" * 5,
            "ab" * 30,
        ],
    )
    @pytest.mark.parametrize("env", [{"CAREPACT_ENV": "production"}, {}])
    def test_production_refuses_a_missing_short_weak_or_default_secret(self, secret, env):
        environ = dict(env)
        if secret is not None:
            environ["JWT_SECRET_KEY"] = secret
        with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
            load_settings(environ)

    def test_an_unset_environment_is_production(self):
        settings = load_settings({"JWT_SECRET_KEY": STRONG_SECRET})
        assert settings["CAREPACT_ENV"] == "production"
        assert settings["PASSWORD_HASH_PROFILE"] == "standard"

    def test_production_refuses_the_light_password_hash_profile(self):
        with pytest.raises(ConfigError, match="argon2id"):
            load_settings(
                {"CAREPACT_ENV": "production", "JWT_SECRET_KEY": STRONG_SECRET},
                {"PASSWORD_HASH_PROFILE": "light"},
            )
        assert load_settings({"CAREPACT_ENV": "test"})["PASSWORD_HASH_PROFILE"] == "light"

    def test_settings_come_from_the_environment(self):
        settings = load_settings(
            {
                "MONGODB_URI": "mongodb://db.example:27017/cp",
                "ACCESS_TOKEN_TTL": "60",
                "PORT": "1",
                "JWT_SECRET_KEY": STRONG_SECRET,
            }
        )
        assert settings["MONGODB_URI"] == "mongodb://db.example:27017/cp"
        assert settings["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds() == 60

    def test_bad_numbers_and_environments_are_refused(self):
        with pytest.raises(ConfigError, match="ACCESS_TOKEN_TTL"):
            load_settings({"ACCESS_TOKEN_TTL": "soon", "CAREPACT_ENV": "test"})
        with pytest.raises(ConfigError, match="CAREPACT_ENV"):
            load_settings({"CAREPACT_ENV": "staging"})

    @pytest.mark.parametrize(
        "env",
        [
            {"CAREPACT_ENV": "production", "JWT_SECRET_KEY": "too-short"},
            # The public development secret is not a default anywhere but development.
            {"JWT_SECRET_KEY": DEVELOPMENT_SECRET},
            {},
        ],
    )
    def test_wsgi_exits_non_zero_with_a_clear_message_outside_development(self, env):
        result = subprocess.run(
            [sys.executable, "-c", "import wsgi"],
            cwd=ROOT,
            env={**env, "PATH": "/usr/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "refuses to start" in result.stderr
        assert "JWT_SECRET_KEY" in result.stderr
        assert "Traceback" not in result.stderr

    def test_development_warns_of_its_public_secret_at_start(self, mongo_uri):
        env = {"CAREPACT_ENV": "development", "MONGODB_URI": mongo_uri, "PATH": "/usr/bin"}
        result = subprocess.run(
            [sys.executable, "-c", "from api import create_app; create_app()"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        [warning] = [json.loads(line) for line in result.stderr.splitlines() if "JWT" in line]
        assert warning["level"] == "WARNING"
        assert "anyone can know" in warning["msg"]


class TestHealth:
    def test_health(self, client):
        response = client.get("/health")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok"}

    def test_ready_when_the_database_answers(self, client):
        response = client.get("/ready")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ready"}

    def test_ready_is_503_quickly_when_the_database_is_down(self):
        closed = f"mongodb://127.0.0.1:{free_port()}/carepact?directConnection=true"
        app = create_app({"CAREPACT_ENV": "test", "MONGODB_URI": closed})
        started = time.monotonic()
        response = app.test_client().get("/ready")
        assert time.monotonic() - started < 3
        body = assert_problem(response, 503)
        assert response.headers["Retry-After"].isdigit()
        assert "database" in body["detail"]

    def test_a_request_needing_the_database_is_503_not_a_hang(self):
        closed = f"mongodb://127.0.0.1:{free_port()}/carepact?directConnection=true"
        app = create_app({"CAREPACT_ENV": "test", "MONGODB_URI": closed})
        with app.app_context():
            headers = {"Authorization": "Bearer " + _token_for_unknown_user(app)}
        started = time.monotonic()
        response = app.test_client().get("/api/v1/me", headers=headers)
        assert time.monotonic() - started < 6
        assert_problem(response, 503)
        assert "Retry-After" in response.headers


def _token_for_unknown_user(app):
    from flask_jwt_extended import create_access_token

    with app.test_request_context():
        return create_access_token(
            "0123456789abcdef01234567",
            additional_claims={"role": "patient", "fam": "f", "iat_ms": 0},
        )


class TestErrorShapes:
    def test_unknown_route_is_404_problem(self, client):
        assert_problem(client.get("/api/v1/nothing-here"), 404)

    def test_wrong_method_is_405_problem(self, client):
        response = client.delete("/health")
        assert_problem(response, 405)
        assert "GET" in response.headers["Allow"]

    def test_malformed_json_is_400_problem(self, client):
        response = client.post(
            "/api/v1/auth/login", data="{not json", content_type="application/json"
        )
        body = assert_problem(response, 400)
        assert "JSON" in body["detail"]

    def test_validation_is_422_naming_each_field(self, client):
        response = client.post("/api/v1/auth/register", json={"email": "nope", "password": 1})
        body = assert_problem(response, 422)
        assert set(body["errors"]) >= {"email", "password", "name"}
        assert all(isinstance(m, list) and m for m in body["errors"].values())

    def test_unexpected_exception_is_a_generic_500_with_the_traceback_only_in_the_log(
        self, app, caplog
    ):
        @app.get("/boom")
        def boom():
            raise RuntimeError("secret internal detail")

        response = app.test_client().get("/boom")
        body = assert_problem(response, 500)
        assert "secret internal detail" not in json.dumps(body)
        assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)

    def test_body_too_large_is_413_problem(self, client):
        response = client.post(
            "/api/v1/auth/login", data="x" * (2 * 1024 * 1024), content_type="application/json"
        )
        assert_problem(response, 413)

    def test_missing_token_is_401_problem(self, client):
        response = client.get("/api/v1/me")
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"


class TestOpenApi:
    def test_document_is_valid_openapi_3(self, client):
        response = client.get("/api/v1/openapi.json")
        assert response.status_code == 200
        document = response.get_json()
        assert document["openapi"].startswith("3.")
        validate(document)
        assert "/health" in document["paths"]
        assert "bearerAuth" in document["components"]["securitySchemes"]

    def test_docs_page_works_offline(self, client):
        response = client.get("/api/v1/docs")
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "swagger-ui" in page
        assert "http://" not in page and "https://" not in page
        for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
            served = client.get(f"/api/v1/docs/assets/{asset}")
            assert served.status_code == 200
            assert len(served.data) > 1000
        script = client.get("/api/v1/docs/init.js").get_data(as_text=True)
        assert "/api/v1/openapi.json" in script and "https://" not in script

    def test_docs_assets_outside_the_bundle_are_404(self, client):
        assert_problem(client.get("/api/v1/docs/assets/..%2fREADME.md"), 404)
        assert_problem(client.get("/api/v1/docs/assets/index.html"), 404)


class TestRequestIds:
    def test_a_valid_request_id_is_echoed(self, client):
        response = client.get("/health", headers={"X-Request-ID": "abc-123"})
        assert response.headers["X-Request-ID"] == "abc-123"

    def test_a_missing_or_hostile_request_id_is_replaced(self, client):
        generated = client.get("/health").headers["X-Request-ID"]
        assert len(generated) == 32
        hostile = client.get("/health", headers={"X-Request-ID": "a\u00e9" + "x" * 300})
        assert hostile.headers["X-Request-ID"] != "a\u00e9" + "x" * 300

    def test_one_json_log_line_per_request_without_bodies(self, client, caplog, factory):
        patient = factory.patient()
        caplog.clear()
        client.patch(
            "/api/v1/me",
            json={"name": "Secret Name"},
            headers={**factory.headers(patient), "X-Request-ID": "req-1"},
        )
        lines = [r for r in caplog.records if r.name == "carepact.access"]
        assert len(lines) == 1
        fields = lines[0].fields
        assert fields["request_id"] == "req-1"
        assert fields["method"] == "PATCH" and fields["path"] == "/api/v1/me"
        assert fields["status"] == 200 and fields["user_id"] == str(patient.pk)
        assert isinstance(fields["duration_ms"], float)
        assert "Secret Name" not in json.dumps(fields)

    def test_api_responses_are_not_cached(self, client, factory):
        response = client.get("/api/v1/me", headers=factory.headers(factory.patient()))
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


class TestDatabasePerTest:
    def test_each_test_starts_with_an_empty_database(self, mongo):
        # Only the record of the migrations `init` applies, as on a fresh deployment.
        assert mongo.list_collection_names() == ["schema_version"]
        mongo.marker.insert_one({"left": "behind"})

    def test_and_the_next_one_too(self, mongo):
        assert mongo.list_collection_names() == ["schema_version"]
