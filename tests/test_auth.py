"""Accounts and tokens: sign-up, login, refresh rotation, logout, password change, rate limit."""

import json
from datetime import timedelta

import pytest

from api import create_app
from tests.factories import PASSWORD
from tests.mail_helpers import mailed_code
from tests.test_foundation import assert_problem

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def login(client, email, password=PASSWORD, address="10.0.0.1"):
    return client.post(
        LOGIN, json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def signed_in(client, user) -> dict:
    response = login(client, user.email)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


class TestLogin:
    def test_unknown_email_and_wrong_password_get_the_same_401(self, client, factory):
        user = factory.patient()
        unknown = login(client, "nobody@example.org")
        wrong = login(client, user.email, "not the password")
        first, second = assert_problem(unknown, 401), assert_problem(wrong, 401)
        assert first == second
        assert first["detail"] == "The email or password is not correct."

    def test_an_account_without_a_login_cannot_log_in(self, client, mongo, factory):
        child = factory.patient()
        mongo.users.update_one({"_id": child.pk}, {"$unset": {"password_hash": 1}})
        assert_problem(login(client, child.email), 401)

    def test_bad_login_bodies_are_422(self, client):
        body = assert_problem(client.post(LOGIN, json={"email": 5, "password": None}), 422)
        assert set(body["errors"]) == {"email", "password"}
        assert (
            "extra"
            in assert_problem(
                client.post(LOGIN, json={"email": "a@b.c", "password": "p", "extra": 1}), 422
            )["errors"]
        )

    def test_the_access_token_carries_role_and_family(self, app, client, factory):
        from flask_jwt_extended import decode_token

        provider = factory.provider()
        pair = signed_in(client, provider)
        with app.test_request_context():
            access, refresh = (
                decode_token(pair["access_token"]),
                decode_token(pair["refresh_token"]),
            )
        assert access["role"] == "provider" and access["sub"] == str(provider.pk)
        assert access["fam"] == refresh["fam"] and access["type"] == "access"
        assert refresh["type"] == "refresh"
        assert access["exp"] - access["iat"] == 900
        assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600

    def test_token_lifetimes_are_configurable(self, app_config, factory):
        app = create_app({**app_config, "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=60)})
        response = app.test_client().post(
            LOGIN, json={"email": factory.patient().email, "password": PASSWORD}
        )
        assert response.get_json()["expires_in"] == 60


class TestRefresh:
    def test_refresh_rotates_and_the_old_refresh_token_is_spent(self, client, factory):
        first = signed_in(client, factory.patient())
        response = client.post(REFRESH, headers=bearer(first["refresh_token"]))
        assert response.status_code == 200
        second = response.get_json()
        assert second["refresh_token"] != first["refresh_token"]
        assert client.get(ME, headers=bearer(second["access_token"])).status_code == 200
        third = client.post(REFRESH, headers=bearer(second["refresh_token"]))
        assert third.status_code == 200

    def test_reusing_a_spent_refresh_token_revokes_the_whole_family(self, client, factory):
        patient = factory.patient()
        first = signed_in(client, patient)
        other_sign_in = signed_in(client, patient)
        second = client.post(REFRESH, headers=bearer(first["refresh_token"])).get_json()

        reuse = client.post(REFRESH, headers=bearer(first["refresh_token"]))
        assert "already used" in assert_problem(reuse, 401)["detail"]
        # The newest pair of that family is dead too: access and refresh.
        assert_problem(client.get(ME, headers=bearer(second["access_token"])), 401)
        assert_problem(client.post(REFRESH, headers=bearer(second["refresh_token"])), 401)
        assert_problem(client.get(ME, headers=bearer(first["access_token"])), 401)
        # Another sign-in of the same user is a different family and keeps working.
        assert client.get(ME, headers=bearer(other_sign_in["access_token"])).status_code == 200

    def test_an_access_token_cannot_refresh_and_a_refresh_token_cannot_call_the_api(
        self, client, factory
    ):
        pair = signed_in(client, factory.patient())
        assert_problem(client.post(REFRESH, headers=bearer(pair["access_token"])), 401)
        assert_problem(client.get(ME, headers=bearer(pair["refresh_token"])), 401)

    def test_garbage_and_missing_tokens_are_401(self, client):
        assert_problem(client.post(REFRESH), 401)
        assert_problem(client.post(REFRESH, headers=bearer("not.a.jwt")), 401)
        assert_problem(client.get(ME, headers={"Authorization": "Basic abc"}), 401)

    def test_a_token_signed_with_another_key_is_401(self, app_config, client, factory):
        other = create_app({**app_config, "JWT_SECRET_KEY": "another-secret-" + "y" * 40})
        patient = factory.patient()
        with other.test_request_context():
            from api.services.identity import tokens

            forged = tokens.issue_pair(patient)
        assert_problem(client.get(ME, headers=bearer(forged["access_token"])), 401)

    def test_refresh_for_a_deleted_account_is_401(self, client, mongo, factory):
        patient = factory.patient()
        pair = signed_in(client, patient)
        mongo.users.delete_one({"_id": patient.pk})
        assert_problem(client.post(REFRESH, headers=bearer(pair["refresh_token"])), 401)


class TestLogout:
    def test_logout_revokes_the_access_token_and_its_family_only(self, client, factory):
        patient = factory.patient()
        pair = signed_in(client, patient)
        other = signed_in(client, patient)
        response = client.post(LOGOUT, headers=bearer(pair["access_token"]))
        assert response.status_code == 204 and response.data == b""
        body = assert_problem(client.get(ME, headers=bearer(pair["access_token"])), 401)
        assert body["detail"] == "The token has been revoked."
        assert_problem(client.post(REFRESH, headers=bearer(pair["refresh_token"])), 401)
        assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200
        assert client.post(REFRESH, headers=bearer(other["refresh_token"])).status_code == 200

    def test_logout_needs_an_access_token(self, client, factory):
        pair = signed_in(client, factory.patient())
        assert_problem(client.post(LOGOUT), 401)
        assert_problem(client.post(LOGOUT, headers=bearer(pair["refresh_token"])), 401)

    def test_revocations_clean_themselves_up_with_a_ttl_index(self, client, mongo, factory):
        pair = signed_in(client, factory.patient())
        client.post(LOGOUT, headers=bearer(pair["access_token"]))
        stored = list(mongo.revocations.find())
        assert {doc["_id"].split(":")[0] for doc in stored} == {"jti", "family"}
        assert all(doc["expires_at"] for doc in stored)
        ttl = [
            index
            for index in mongo.revocations.index_information().values()
            if "expireAfterSeconds" in index
        ]
        assert [(i["key"], i["expireAfterSeconds"]) for i in ttl] == [([("expires_at", 1)], 0)]
        client.post(REFRESH, headers=bearer(signed_in(client, factory.patient())["refresh_token"]))
        spent_ttl = mongo.spent_refresh_tokens.index_information()
        assert any(i.get("expireAfterSeconds") == 0 for i in spent_ttl.values())

    def test_revocation_holds_for_a_second_app_on_the_same_database(
        self, app_config, client, factory
    ):
        pair = signed_in(client, factory.patient())
        client.post(LOGOUT, headers=bearer(pair["access_token"]))
        other_worker = create_app(app_config).test_client()
        assert_problem(other_worker.get(ME, headers=bearer(pair["access_token"])), 401)


class TestPasswordChange:
    def test_a_password_change_revokes_every_token_but_a_new_login_works(self, client, factory):
        patient = factory.patient()
        first, second = signed_in(client, patient), signed_in(client, patient)
        response = client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "a brand new one"},
            headers=bearer(first["access_token"]),
        )
        assert response.status_code == 204
        for pair in (first, second):
            assert_problem(client.get(ME, headers=bearer(pair["access_token"])), 401)
            assert_problem(client.post(REFRESH, headers=bearer(pair["refresh_token"])), 401)
        assert_problem(login(client, patient.email), 401)
        fresh = login(client, patient.email, "a brand new one")
        assert fresh.status_code == 200
        assert client.get(ME, headers=bearer(fresh.get_json()["access_token"])).status_code == 200
        refreshed = client.post(REFRESH, headers=bearer(fresh.get_json()["refresh_token"]))
        assert refreshed.status_code == 200

    def test_a_wrong_current_password_is_422_and_changes_nothing(self, client, mongo, factory):
        patient = factory.patient()
        pair = signed_in(client, patient)
        before = mongo.users.find_one({"_id": patient.pk})["password_hash"]
        response = client.post(
            "/api/v1/me/password",
            json={"current_password": "wrong wrong", "new_password": "a brand new one"},
            headers=bearer(pair["access_token"]),
        )
        assert "current_password" in assert_problem(response, 422)["errors"]
        assert mongo.users.find_one({"_id": patient.pk})["password_hash"] == before
        assert mongo.revocations.count_documents({}) == 0
        assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 200

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
            ({"current_password": PASSWORD, "new_password": PASSWORD}, "new_password"),
            ({"current_password": PASSWORD}, "new_password"),
            ({"current_password": PASSWORD, "new_password": "y" * 129}, "new_password"),
            ({"current_password": PASSWORD, "new_password": "y" * 12, "x": 1}, "x"),
        ],
    )
    def test_bad_new_passwords_are_422(self, client, mongo, factory, body, field):
        patient = factory.patient()
        response = client.post("/api/v1/me/password", json=body, headers=factory.headers(patient))
        assert field in assert_problem(response, 422)["errors"]
        assert mongo.revocations.count_documents({}) == 0


class TestProviders:
    def new_provider(self, **overrides):
        return {
            "email": "new.doc@example.org",
            "name": "Dr. New",
            "specialty": "Cardiology",
            **overrides,
        }

    def test_an_admin_creates_a_provider_who_sets_their_own_password(
        self, client, mongo, factory, smtp_server
    ):
        response = client.post(
            "/api/v1/admin/providers",
            json=self.new_provider(),
            headers=factory.headers(factory.admin()),
        )
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        assert body["specialty"] == "cardiology" and body["email"] == "new.doc@example.org"
        assert "password" not in body
        document = mongo.users.find_one({"email": "new.doc@example.org"})
        assert document["role"] == "provider" and str(document["_id"]) == body["id"]
        assert "password_hash" not in document
        # Until then nobody, the admin included, can sign in as the provider.
        assert_problem(login(client, "new.doc@example.org", "anything at all"), 401)
        assert smtp_server.deliver_outbox() == {"mail_sent": 1}
        [mail] = smtp_server.to("new.doc@example.org")
        assert "provider account" in mail.text
        code = mailed_code(mail)
        confirm = client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"email": "new.doc@example.org", "code": code, "new_password": "my own choice"},
        )
        assert confirm.status_code == 204, confirm.get_json()
        token = login(client, "new.doc@example.org", "my own choice").get_json()
        me = client.get(ME, headers=bearer(token["access_token"])).get_json()
        assert me["role"] == "provider"
        assert mongo.account_codes.count_documents({}) == 0

    @pytest.mark.parametrize("role", ["patient", "provider"])
    def test_only_an_admin_may_create_providers(self, client, mongo, factory, role):
        response = client.post(
            "/api/v1/admin/providers",
            json=self.new_provider(),
            headers=factory.headers(factory.user(role)),
        )
        assert_problem(response, 403)
        assert mongo.users.count_documents({"email": "new.doc@example.org"}) == 0
        assert_problem(client.post("/api/v1/admin/providers", json=self.new_provider()), 401)

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"specialty": None}, "specialty"),
            ({"specialty": "x" * 81}, "specialty"),
            ({"password": "chosen by the admin"}, "password"),
            ({"email": "nope"}, "email"),
            ({"role": "admin"}, "role"),
        ],
    )
    def test_bad_provider_bodies_are_422(self, client, mongo, factory, overrides, field):
        body = {k: v for k, v in self.new_provider(**overrides).items() if v is not None}
        response = client.post(
            "/api/v1/admin/providers", json=body, headers=factory.headers(factory.admin())
        )
        assert field in assert_problem(response, 422)["errors"]
        assert mongo.users.count_documents({"role": "provider"}) == 0

    def test_a_taken_email_is_409(self, client, mongo, factory):
        factory.patient(email="new.doc@example.org")
        response = client.post(
            "/api/v1/admin/providers",
            json=self.new_provider(email="NEW.DOC@example.org"),
            headers=factory.headers(factory.admin()),
        )
        assert_problem(response, 409)
        assert mongo.users.count_documents({}) == 2

    def test_providers_list_filters_by_specialty_and_is_paginated(self, client, factory):
        me = factory.provider(specialty="primary care", name="Dr. A")
        for n in range(3):
            factory.provider(specialty="Endocrinology", name=f"Dr. Endo {n}")
        factory.provider(specialty="cardiology", name="Dr. Heart")
        factory.patient()
        headers = factory.headers(me)
        everyone = client.get("/api/v1/providers", headers=headers)
        assert everyone.status_code == 200
        assert [p["name"] for p in everyone.get_json()][:2] == ["Dr. A", "Dr. Endo 0"]
        assert len(everyone.get_json()) == 5

        page = client.get("/api/v1/providers?specialty=endocrinology&page_size=2", headers=headers)
        assert page.status_code == 200
        assert [p["name"] for p in page.get_json()] == ["Dr. Endo 0", "Dr. Endo 1"]
        assert all(p["specialty"] == "endocrinology" for p in page.get_json())
        pagination = json.loads(page.headers["X-Pagination"])
        assert pagination["total"] == 3 and pagination["total_pages"] == 2
        second = client.get(
            "/api/v1/providers?specialty=Endocrinology&page=2&page_size=2", headers=headers
        )
        assert [p["name"] for p in second.get_json()] == ["Dr. Endo 2"]
        assert client.get("/api/v1/providers?specialty=dentistry", headers=headers).json == []

    def test_the_directory_is_for_providers_only(self, client, factory):
        for role in ("patient", "admin"):
            response = client.get("/api/v1/providers", headers=factory.headers(factory.user(role)))
            assert_problem(response, 403)
        assert_problem(client.get("/api/v1/providers"), 401)

    @pytest.mark.parametrize(
        "query", ["page_size=101", "page=0", "page=x", "specialty=" + "s" * 81]
    )
    def test_bad_directory_queries_are_422(self, client, factory, query):
        response = client.get(
            f"/api/v1/providers?{query}", headers=factory.headers(factory.provider())
        )
        assert_problem(response, 422)
