"""Password reset with a mailed code, end to end through HTTP and a real SMTP server."""

import statistics
import time
from datetime import timedelta

from api import create_app
from api.clock import utcnow
from tests.factories import PASSWORD as OLD_PASSWORD
from tests.mail_helpers import mailed_code
from tests.test_auth import REFRESH, bearer, login, signed_in
from tests.test_foundation import assert_problem

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "a fresh long password"


def ask(client, email, address="10.9.1.1"):
    return client.post(RESET, json={"email": email}, environ_base={"REMOTE_ADDR": address})


def confirm(client, email, code, new_password=NEW_PASSWORD, address="10.9.1.1"):
    return client.post(
        CONFIRM,
        json={"email": email, "code": code, "new_password": new_password},
        environ_base={"REMOTE_ADDR": address},
    )


def reset_code(client, smtp_server, email) -> str:
    assert ask(client, email).status_code == 202
    smtp_server.deliver_outbox()
    return mailed_code(smtp_server.to(email)[-1])


def test_a_reset_sets_the_password_and_ends_every_session(client, mongo, factory, smtp_server):
    patient = factory.patient()
    phone, tablet = signed_in(client, patient), signed_in(client, patient)
    response = ask(client, patient.email.upper())
    assert response.status_code == 202
    assert smtp_server.deliver_outbox() == {"mail_sent": 1}
    [mail] = smtp_server.to(patient.email)
    assert "30 minutes" in mail.text
    code = mailed_code(mail)
    assert code not in str(mongo.account_codes.find_one())

    assert confirm(client, patient.email, code).status_code == 204
    for pair in (phone, tablet):
        assert_problem(client.get("/api/v1/me", headers=bearer(pair["access_token"])), 401)
        assert_problem(client.post(REFRESH, headers=bearer(pair["refresh_token"])), 401)
    assert_problem(login(client, patient.email, OLD_PASSWORD), 401)
    assert login(client, patient.email, NEW_PASSWORD).status_code == 200
    # Single use.
    again = confirm(client, patient.email, code, "yet another long one")
    assert "code" in assert_problem(again, 422)["errors"]
    assert login(client, patient.email, NEW_PASSWORD).status_code == 200


def test_an_unknown_address_gets_the_same_202_and_a_mail_saying_so(client, factory, smtp_server):
    patient = factory.patient()
    known, unknown = ask(client, patient.email), ask(client, "nobody@example.org")
    assert (known.status_code, known.get_json()) == (unknown.status_code, unknown.get_json())
    smtp_server.deliver_outbox()
    [mail] = smtp_server.to("nobody@example.org")
    assert "no CarePact account uses it" in mail.text
    assert_problem(confirm(client, "nobody@example.org", "123456"), 422)


def test_the_answers_take_as_long_for_known_and_unknown_addresses(client, factory):
    people = [factory.patient() for _ in range(12)]
    known, unknown = [], []
    for n, person in enumerate(people):
        for email, times in ((person.email, known), (f"x{n}@example.org", unknown)):
            started = time.perf_counter()
            assert ask(client, email, address=f"10.4.{n}.{len(times)}").status_code == 202
            times.append(time.perf_counter() - started)
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.6 < ratio < 1.6, (statistics.median(known), statistics.median(unknown))


def test_a_code_expires_after_30_minutes(client, mongo, factory, smtp_server):
    patient = factory.patient()
    code = reset_code(client, smtp_server, patient.email)
    stored = mongo.account_codes.find_one()
    assert stored["expires_at"] - stored["created_at"] == timedelta(minutes=30)
    mongo.account_codes.update_one({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    assert_problem(confirm(client, patient.email, code), 422)
    assert login(client, patient.email, OLD_PASSWORD).status_code == 200


def test_five_wrong_codes_end_it(client, factory, smtp_server):
    patient = factory.patient()
    code = reset_code(client, smtp_server, patient.email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for n in range(5):
        assert_problem(confirm(client, patient.email, wrong, address=f"10.2.{n}.1"), 422)
    assert_problem(confirm(client, patient.email, code, address="10.2.9.1"), 422)
    assert login(client, patient.email, OLD_PASSWORD).status_code == 200


def test_a_common_new_password_is_refused_and_the_code_still_works(client, factory, smtp_server):
    patient = factory.patient()
    code = reset_code(client, smtp_server, patient.email)
    refused = confirm(client, patient.email, code, "password123")
    assert "new_password" in assert_problem(refused, 422)["errors"]
    assert confirm(client, patient.email, code).status_code == 204


def test_wrong_codes_and_requests_are_rate_limited_per_address(app_config, factory):
    client = create_app(
        {**app_config, "CODE_RATE_LIMIT": "3 per hour", "PASSWORD_RESET_RATE_LIMIT": "2/hour"}
    ).test_client()
    patient = factory.patient()
    for _ in range(2):
        assert ask(client, patient.email).status_code == 202
    assert_problem(ask(client, patient.email), 429)
    for _ in range(3):
        assert_problem(confirm(client, patient.email, "000000"), 422)
    assert_problem(confirm(client, patient.email, "000000"), 429)
    assert ask(client, patient.email, address="10.0.9.9").status_code == 202
