"""Operator commands, run as an operator runs them: `flask --app wsgi ...` in a subprocess."""

import os
import subprocess
from pathlib import Path

import pytest
from bson import ObjectId

from api.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from tests.test_foundation import assert_problem

ROOT = Path(__file__).resolve().parent.parent
FLASK = ROOT / ".venv" / "bin" / "flask"


@pytest.fixture
def flask_cli(mongo_uri):
    env = {**os.environ, "MONGODB_URI": mongo_uri, "CAREPACT_ENV": "test"}

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - the project's own CLI, with arguments from tests
            [str(FLASK), "--app", "wsgi", *args],
            cwd=ROOT,
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def create_user(flask_cli, role="patient", email="cli@example.org", **extra):
    args = ["--role", role, "--email", email, "--password", "cli password 1", "--name", "Cli User"]
    for name, value in extra.items():
        args += [f"--{name}", value]
    return flask_cli("create-user", *args)


class TestCreateUser:
    def test_it_prints_the_id_and_the_first_admin_signs_in(self, flask_cli, mongo, client):
        result = create_user(flask_cli, email="Admin@Example.ORG", role="admin")
        assert result.returncode == 0, result.stderr
        user_id = result.stdout.strip()
        stored = mongo.users.find_one({"_id": ObjectId(user_id)})
        assert stored["email"] == "admin@example.org" and stored["role"] == "admin"
        assert stored["password_hash"].startswith("$argon2id$")

        login = client.post(
            "/api/v1/auth/login", json={"email": "admin@example.org", "password": "cli password 1"}
        )
        assert login.status_code == 200
        response = client.post(
            "/api/v1/admin/providers",
            json={"email": "doc@example.org", "name": "Dr. Doc", "specialty": "pulmonology"},
            headers={"Authorization": f"Bearer {login.get_json()['access_token']}"},
        )
        assert response.status_code == 201

    def test_the_password_may_come_from_a_prompt_and_common_ones_are_refused(
        self, flask_cli, mongo, client
    ):
        args = ["--role", "admin", "--email", "root@example.org", "--name", "Root"]
        common = flask_cli("create-user", *args, input="password123\npassword123\n")
        assert common.returncode != 0 and "common" in common.stderr
        result = flask_cli("create-user", *args, input="a secret of mine\na secret of mine\n")
        assert result.returncode == 0, result.stderr
        assert "a secret of mine" not in result.stdout
        login = {"email": "root@example.org", "password": "a secret of mine"}
        assert client.post("/api/v1/auth/login", json=login).status_code == 200

    def test_a_provider_with_a_specialty(self, flask_cli, mongo):
        result = create_user(flask_cli, role="provider", specialty="Endocrinology")
        assert result.returncode == 0, result.stderr
        stored = mongo.users.find_one({"_id": ObjectId(result.stdout.strip())})
        assert stored["role"] == "provider" and stored["specialty"] == "endocrinology"

    def test_a_duplicate_email_in_another_case_fails_and_stores_nothing_twice(
        self, flask_cli, mongo
    ):
        assert create_user(flask_cli, email="dup@example.org").returncode == 0
        again = create_user(flask_cli, email="DUP@example.org", role="admin")
        assert again.returncode != 0
        assert "already exists" in again.stderr
        assert "Traceback" not in again.stderr and again.stdout == ""
        assert mongo.users.count_documents({}) == 1
        assert mongo.users.find_one()["role"] == "patient"

    @pytest.mark.parametrize(
        ("role", "extra", "message"),
        [
            ("superuser", {}, "superuser"),
            ("provider", {}, "specialty"),
            ("patient", {"password": "short"}, "password"),
        ],
    )
    def test_bad_input_fails_with_a_clear_message_and_stores_nothing(
        self, flask_cli, mongo, role, extra, message
    ):
        args = {"email": "bad@example.org", "password": "cli password 1", "name": "Bad", **extra}
        result = flask_cli(
            "create-user",
            "--role",
            role,
            *[part for name, value in args.items() for part in (f"--{name}", value)],
        )
        assert result.returncode != 0
        assert message in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
        assert mongo.users.count_documents({}) == 0


class TestSeedDemo:
    def test_seeding_twice_leaves_the_same_accounts_and_child(self, flask_cli, mongo, client):
        # One adult patient: the demo patient and her child (tests/test_demo.py seeds more).
        first = flask_cli("seed-demo", "--patients", "1")
        assert first.returncode == 0, first.stderr
        ids = sorted(str(u["_id"]) for u in mongo.users.find())
        second = flask_cli("seed-demo", "--patients", "1")
        assert second.returncode == 0, second.stderr
        assert sorted(str(u["_id"]) for u in mongo.users.find()) == ids
        assert mongo.users.count_documents({"email": {"$type": "string"}}) == 6
        roles = sorted(u["role"] for u in mongo.users.find())
        assert roles == ["admin", "patient", "patient", *["provider"] * 4]
        for output in (first.stdout, second.stdout):
            assert DEMO_PASSWORD in output and "demo data ready in" in output
            assert all(spec["email"] in output for spec in DEMO_ACCOUNTS)
        # The GP for both; the paediatric cardiologist for the child.
        assert mongo.care_team_members.count_documents({"status": "active"}) == 3

        # The child: no login, on the PCP's panel, cared for by the demo patient, whose
        # acceptance of the child's heart-condition plan is recorded on the child's behalf.
        parent = mongo.users.find_one({"email": "patient@demo.carepact.test"})
        child = mongo.users.find_one({"email": None, "role": "patient"})
        assert child["birth_date"] and "password_hash" not in child
        [grant] = mongo.caregiver_grants.find({"status": "active"})
        assert grant["caregiver"] == parent["_id"] and grant["patient"] == child["_id"]
        assert "manage" in grant["permissions"]
        plan = mongo.agreements.find_one({"patient": child["_id"], "status": "active"})
        assert plan["template_id"] == "paediatric-heart"
        assert plan["accepted_by"] == parent["_id"] and plan["on_behalf_of"] == child["_id"]

        # The demo works: the PCP sees the patient, the endocrinologist (not on the team) not.
        def sign_in(email):
            response = client.post(
                "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}
            )
            return {"Authorization": f"Bearer {response.get_json()['access_token']}"}

        patient = mongo.users.find_one({"email": "patient@demo.carepact.test"})
        url = f"/api/v1/patients/{patient['_id']}/care-team"
        response = client.get(url, headers=sign_in("pcp@demo.carepact.test"))
        assert response.status_code == 200
        assert [m["status"] for m in response.get_json()] == ["active"]
        assert_problem(client.get(url, headers=sign_in("endo@demo.carepact.test")), 404)
        # Both of the PCP's patients are on the panel (the membership listeners ran).
        panel = client.get("/api/v1/panel", headers=sign_in("pcp@demo.carepact.test"))
        names = sorted(row["patient"]["name"] for row in panel.get_json())
        assert names == ["Pat Jensen", "Sam Jensen"]
