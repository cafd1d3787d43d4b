"""Sign-up with a mailed code, end to end through HTTP and a real SMTP server (issue 17).

The answer to `POST /auth/register` is the same 202, after the same work, whether the address
is new or taken; the mail tells the difference, to the address's owner only.
"""

import statistics
import time
from datetime import timedelta

import pytest

from api import create_app
from api.clock import utcnow
from tests.mail_helpers import mailed_code
from tests.test_auth import bearer, login
from tests.test_care_team import invite
from tests.test_foundation import assert_problem

REGISTER = "/api/v1/auth/register"
VERIFY = "/api/v1/auth/verify-email"
ME = "/api/v1/me"
PASSWORD = "my own long password"


def sign_up(client, email="ann@example.org", address="10.9.0.1", **extra):
    body = {"email": email, "password": PASSWORD, "name": "Ann Lee", **extra}
    return client.post(REGISTER, json=body, environ_base={"REMOTE_ADDR": address})


def verify(client, email, code, address="10.9.0.1"):
    return client.post(
        VERIFY, json={"email": email, "code": code}, environ_base={"REMOTE_ADDR": address}
    )


def code_for(smtp_server, email) -> str:
    smtp_server.deliver_outbox()
    return mailed_code(smtp_server.to(email)[-1])


class TestANewAddress:
    def test_signs_up_verifies_and_signs_in(self, client, mongo, smtp_server):
        response = sign_up(client, email="  Ann.Lee@Example.ORG ", timezone="Europe/Oslo")
        assert response.status_code == 202
        assert "mail" in response.get_json()["detail"]
        # No account yet; the sign-up waits with a hashed password and a hashed code.
        assert mongo.users.count_documents({}) == 0
        pending = mongo.registrations.find_one({"_id": "ann.lee@example.org"})
        assert pending["password_hash"].startswith("$argon2id$")
        assert PASSWORD not in str(pending)

        assert smtp_server.deliver_outbox() == {"mail_sent": 1}
        [mail] = smtp_server.to("ann.lee@example.org")
        assert "finish signing up" in mail.text and "24 hours" in mail.text
        code = mailed_code(mail)
        assert code not in str(pending)

        # The right password on an unverified account names the step; a wrong one is a 401.
        early = assert_problem(login(client, "ann.lee@example.org", PASSWORD), 403)
        assert early["step"] == "verify-email"
        assert_problem(login(client, "ann.lee@example.org", "not my password"), 401)

        verified = verify(client, "ANN.LEE@example.org", code)
        assert verified.status_code == 200, verified.get_json()
        body = verified.get_json()
        assert body["token_type"] == "Bearer" and body["care_team_joined"] is False
        me = client.get(ME, headers=bearer(body["access_token"])).get_json()
        assert me["email"] == "ann.lee@example.org" and me["timezone"] == "Europe/Oslo"
        assert me["name"] == "Ann Lee" and me["id"] == body["user_id"]
        assert mongo.registrations.count_documents({}) == 0
        assert login(client, "ann.lee@example.org", PASSWORD).status_code == 200

    def test_a_code_works_once(self, client, mongo, smtp_server):
        sign_up(client)
        code = code_for(smtp_server, "ann@example.org")
        assert verify(client, "ann@example.org", code).status_code == 200
        assert "code" in assert_problem(verify(client, "ann@example.org", code), 422)["errors"]
        assert mongo.users.count_documents({}) == 1

    def test_a_code_expires_after_24_hours(self, client, mongo, smtp_server):
        sign_up(client)
        code = code_for(smtp_server, "ann@example.org")
        stored = mongo.registrations.find_one()
        assert timedelta(hours=23, minutes=59) < stored["expires_at"] - stored["created_at"]
        assert stored["expires_at"] - stored["created_at"] <= timedelta(hours=24)
        mongo.registrations.update_one(
            {}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
        )
        assert_problem(verify(client, "ann@example.org", code), 422)
        assert mongo.users.count_documents({}) == 0
        assert any(
            i.get("expireAfterSeconds") == 0
            for i in mongo.registrations.index_information().values()
        )

    def test_five_wrong_tries_end_the_code_and_signing_up_again_sends_a_new_one(
        self, client, mongo, smtp_server
    ):
        sign_up(client)
        code = code_for(smtp_server, "ann@example.org")
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for n in range(5):
            assert_problem(verify(client, "ann@example.org", wrong, address=f"10.8.{n}.1"), 422)
        assert_problem(verify(client, "ann@example.org", code, address="10.8.9.1"), 422)
        assert mongo.users.count_documents({}) == 0
        sign_up(client)
        fresh = code_for(smtp_server, "ann@example.org")
        assert verify(client, "ann@example.org", fresh, address="10.8.9.2").status_code == 200

    def test_signing_up_again_replaces_the_password_and_the_code(self, client, smtp_server):
        sign_up(client)
        first = code_for(smtp_server, "ann@example.org")
        client.post(
            REGISTER,
            json={"email": "ann@example.org", "password": "a second long one", "name": "Ann"},
        )
        second = code_for(smtp_server, "ann@example.org")
        if first != second:
            assert_problem(verify(client, "ann@example.org", first), 422)
        assert verify(client, "ann@example.org", second).status_code == 200
        assert login(client, "ann@example.org", "a second long one").status_code == 200
        assert_problem(login(client, "ann@example.org", PASSWORD, address="10.7.0.1"), 401)

    def test_an_invite_code_joins_the_team_once_the_address_is_verified(
        self, client, mongo, factory, smtp_server
    ):
        provider = factory.provider()
        code = invite(client, factory, provider)
        assert sign_up(client, invite_code=code).status_code == 202
        assert mongo.invitations.find_one().get("used_at") is None
        verified = verify(client, "ann@example.org", code_for(smtp_server, "ann@example.org"))
        assert verified.get_json()["care_team_joined"] is True
        user = mongo.users.find_one({"email": "ann@example.org"})
        [member] = mongo.care_team_members.find({"patient": user["_id"]})
        assert member["provider"] == provider.pk and member["status"] == "active"
        # The membership flow ran: the new patient is on that provider's panel.
        assert mongo.panel_rows.count_documents({"provider": provider.pk, "patient": user["_id"]})

    def test_a_bad_invite_code_is_422_whatever_the_address(self, client, mongo, factory):
        factory.patient(email="taken@example.org")
        for email in ("taken@example.org", "free@example.org"):
            body = assert_problem(sign_up(client, email=email, invite_code="WRONGCODE1"), 422)
            assert list(body["errors"]) == ["invite_code"]
        assert mongo.registrations.count_documents({}) == 0


class TestATakenAddress:
    def test_gets_the_same_202_and_its_owner_a_notice(self, client, mongo, factory, smtp_server):
        owner = factory.patient(email="taken@example.org")
        before = mongo.users.find_one({"_id": owner.pk})
        taken, new = sign_up(client, email="TAKEN@example.org"), sign_up(client)
        assert (taken.status_code, taken.get_json()) == (new.status_code, new.get_json())
        assert taken.headers["Content-Type"] == new.headers["Content-Type"]
        after = mongo.users.find_one({"_id": owner.pk})
        assert after["password_hash"] == before["password_hash"]
        assert after["name"] == before["name"]
        assert mongo.registrations.count_documents({}) == 1  # the new address's only
        smtp_server.deliver_outbox()
        [notice] = smtp_server.to("taken@example.org")
        assert "already has one" in notice.text
        assert "signing up" not in notice.text
        # The owner's password still signs in; the stranger's does not.
        assert login(client, "taken@example.org", "correct horse battery").status_code == 200
        assert_problem(login(client, "taken@example.org", PASSWORD, address="10.6.0.1"), 401)

    def test_notices_are_at_most_one_an_hour(self, client, factory, smtp_server):
        factory.patient(email="taken@example.org")
        for n in range(3):
            assert (
                sign_up(client, email="taken@example.org", address=f"10.5.0.{n}").status_code == 202
            )
        smtp_server.deliver_outbox()
        assert len(smtp_server.to("taken@example.org")) == 1

    def test_a_code_for_a_taken_address_opens_nothing(self, client, factory, mongo):
        factory.patient(email="taken@example.org")
        assert_problem(verify(client, "taken@example.org", "123456"), 422)


def _timed(client, email, address) -> float:
    started = time.perf_counter()
    assert sign_up(client, email=email, address=address).status_code == 202
    return time.perf_counter() - started


def test_the_answers_take_as_long_for_taken_and_new_addresses(client, factory):
    for n in range(12):
        factory.patient(email=f"taken{n}@example.org")
    taken, new = [], []
    for n in range(12):  # interleaved, so load on the machine hits both alike
        taken.append(_timed(client, f"taken{n}@example.org", f"10.4.{n}.1"))
        new.append(_timed(client, f"new{n}@example.org", f"10.4.{n}.2"))
    ratio = statistics.median(taken) / statistics.median(new)
    assert 0.6 < ratio < 1.6, (statistics.median(taken), statistics.median(new))


def test_registration_is_rate_limited_per_address_before_any_hashing(
    app_config, mongo, smtp_server
):
    client = create_app({**app_config, "REGISTER_RATE_LIMIT": "3 per hour"}).test_client()
    for n in range(3):
        assert sign_up(client, email=f"r{n}@example.org").status_code == 202
    limited = sign_up(client, email="r9@example.org")
    assert int(assert_problem(limited, 429) and limited.headers["Retry-After"]) > 0
    assert mongo.registrations.count_documents({"_id": "r9@example.org"}) == 0
    assert sign_up(client, email="r9@example.org", address="10.3.0.9").status_code == 202


@pytest.mark.parametrize("password", ["password123", "Qwertyuiop", "aaaaaaaaaaaa"])
def test_a_common_password_is_422(client, mongo, password):
    response = client.post(
        REGISTER, json={"email": "c@example.org", "password": password, "name": "C"}
    )
    assert "common" in assert_problem(response, 422)["errors"]["password"][0]
    assert mongo.registrations.count_documents({}) == 0


class TestBadSignUps:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"email": "b@example.org", "password": "short", "name": "B"}, "password"),
            ({"email": "b@example.org", "password": "x" * 129, "name": "B"}, "password"),
            ({"email": "not-an-email", "password": "x" * 10, "name": "B"}, "email"),
            ({"email": "b" * 250 + "@example.org", "password": "x" * 10, "name": "B"}, "email"),
            ({"email": "b@example.org", "password": "x" * 10, "name": "B" * 201}, "name"),
            ({"email": "b@example.org", "password": "x" * 10, "name": ""}, "name"),
            ({"email": "b@example.org", "password": "x" * 10}, "name"),
            ({"email": "b@example.org", "password": 1234567890, "name": "B"}, "password"),
            ({"email": ["b@example.org"], "password": "x" * 10, "name": "B"}, "email"),
            (
                {"email": "b@example.org", "password": "x" * 10, "name": "B", "role": "admin"},
                "role",
            ),
            ({"email": "b@example.org", "password": "x" * 10, "name": "B", "tz": "UTC"}, "tz"),
            (
                {"email": "b@example.org", "password": "x" * 10, "name": "B", "timezone": "Mars/X"},
                "timezone",
            ),
            (
                {"email": "b@example.org", "password": "x" * 10, "name": "B", "invite_code": "x"},
                "invite_code",
            ),
        ],
    )
    def test_bad_sign_ups_are_422_naming_the_field_and_store_nothing(
        self, client, mongo, body, field
    ):
        response = assert_problem(client.post(REGISTER, json=body), 422)
        assert field in response["errors"], response
        assert mongo.registrations.count_documents({}) + mongo.users.count_documents({}) == 0

    def test_a_body_that_is_not_an_object_is_422(self, client, mongo):
        assert_problem(client.post(REGISTER, json=["a", "b"]), 422)
        assert mongo.registrations.count_documents({}) + mongo.users.count_documents({}) == 0
