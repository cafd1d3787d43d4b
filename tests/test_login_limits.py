"""Failed sign-ins are limited per (account, address) and per address; an account's failures
from everywhere only slow it down, so nobody can lock someone else out (issue 17, hole 6)."""

from datetime import timedelta

from api import create_app
from api.clock import utcnow
from api.extensions import limiter
from api.services.identity import login_throttle
from tests.factories import PASSWORD
from tests.test_auth import login
from tests.test_foundation import assert_problem


def test_five_wrong_passwords_from_one_address_do_not_lock_the_owner_out(client, factory):
    patient = factory.patient()
    for _ in range(5):
        assert_problem(login(client, patient.email, "wrong", address="10.1.0.1"), 401)
    limited = login(client, patient.email.upper(), "wrong", address="10.1.0.1")
    assert int(assert_problem(limited, 429) and limited.headers["Retry-After"]) > 0
    # The owner, from their own phone, signs in as usual.
    assert login(client, patient.email, address="10.1.0.2").status_code == 200


def test_repeated_failures_from_one_address_are_429(client, factory):
    for n in range(20):
        assert_problem(login(client, f"nobody{n}@example.org", "x", address="10.2.0.1"), 401)
    someone = factory.patient()
    limited = login(client, someone.email, address="10.2.0.1")
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0
    assert login(client, someone.email, address="10.2.0.2").status_code == 200


def test_an_accounts_failures_from_everywhere_bring_a_growing_delay(client, factory, mongo):
    patient = factory.patient()
    free = login_throttle.FREE_FAILURES
    for n in range(free):
        assert_problem(login(client, patient.email, "wrong", address=f"10.5.{n}.1"), 401)
    # The next attempt waits, even with the right password: otherwise guesses go on.
    limited = login(client, patient.email, address="10.5.99.1")
    assert_problem(limited, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 3
    stored = mongo.login_failures.find_one({"_id": patient.email})
    assert stored["count"] == free
    # Each further failure doubles the wait; it is capped, never a hard lock.
    mongo.login_failures.update_one(
        {"_id": patient.email}, {"$set": {"last_at": utcnow() - timedelta(seconds=5)}}
    )
    assert_problem(login(client, patient.email, "wrong", address="10.5.98.1"), 401)
    limited = login(client, patient.email, address="10.5.99.1")
    assert 1 <= int(assert_problem(limited, 429) and limited.headers["Retry-After"]) <= 5
    assert login_throttle.delay_after(free + 1) == timedelta(seconds=2)
    assert login_throttle.delay_after(free + 40) == login_throttle.MAX_DELAY
    # When the delay has run, the right password signs in and forgets the failures.
    mongo.login_failures.update_one(
        {"_id": patient.email}, {"$set": {"last_at": utcnow() - timedelta(seconds=3)}}
    )
    assert login(client, patient.email, address="10.5.99.1").status_code == 200
    assert mongo.login_failures.count_documents({}) == 0


def test_successful_logins_are_not_counted(client, factory):
    patient = factory.patient()
    for _ in range(8):
        assert login(client, patient.email, address="10.3.0.1").status_code == 200
    for _ in range(4):
        assert_problem(login(client, patient.email, "wrong", address="10.3.0.1"), 401)
    assert login(client, patient.email, address="10.3.0.1").status_code == 200


def test_invalid_bodies_are_not_counted(client, factory):
    patient = factory.patient()
    for _ in range(8):
        assert_problem(client.post("/api/v1/auth/login", json={"email": patient.email}), 422)
    assert login(client, patient.email).status_code == 200


def test_the_limit_is_shared_by_two_apps_on_one_database(app_config, client, mongo, factory):
    patient = factory.patient()
    for _ in range(3):
        assert_problem(login(client, patient.email, "wrong", address="10.4.0.1"), 401)
    # The counters live in the database, where every worker on every host sees them.
    assert mongo.counters.count_documents({}) + mongo.windows.count_documents({}) > 0
    other_client = create_app(app_config).test_client()
    for _ in range(2):
        assert_problem(login(other_client, patient.email, "wrong", address="10.4.0.1"), 401)
    assert_problem(login(other_client, patient.email, address="10.4.0.1"), 429)
    assert_problem(login(client, patient.email, address="10.4.0.1"), 429)
    limiter.storage.close()


def test_the_limits_are_configurable(app_config, factory):
    app = create_app(
        {**app_config, "LOGIN_RATE_LIMIT": "2 per minute", "LOGIN_ADDRESS_RATE_LIMIT": "3/minute"}
    )
    client = app.test_client()
    patient = factory.patient()
    for _ in range(2):
        assert_problem(login(client, patient.email, "wrong"), 401)
    assert_problem(login(client, patient.email), 429)
    assert_problem(login(client, "other@example.org", "wrong"), 401)
    assert_problem(login(client, "third@example.org", "wrong"), 429)


def test_redeeming_codes_is_rate_limited_per_caller(app_config, factory, mongo):
    client = create_app({**app_config, "CODE_RATE_LIMIT": "3 per hour"}).test_client()
    guesser, other = factory.patient(), factory.patient()
    dependants, team = "/api/v1/me/dependants", "/api/v1/patients/me/care-team"
    for n in range(3):
        path = dependants if n % 2 else team
        refused = client.post(
            path, json={"code": f"GUESS{n:05d}"}, headers=factory.headers(guesser)
        )
        assert "code" in assert_problem(refused, 422)["errors"]
    for path in (dependants, team):
        limited = client.post(path, json={"code": "GUESS99999"}, headers=factory.headers(guesser))
        assert int(assert_problem(limited, 429) and limited.headers["Retry-After"]) > 0
    refused = client.post(dependants, json={"code": "GUESS00009"}, headers=factory.headers(other))
    assert_problem(refused, 422)


def test_checking_the_current_password_is_rate_limited(app_config, factory):
    client = create_app({**app_config, "PASSWORD_CHECK_RATE_LIMIT": "2 per hour"}).test_client()
    patient = factory.patient()
    body = {"current_password": "a wrong guess", "new_password": "a brand new one"}
    for _ in range(2):
        wrong = client.post("/api/v1/me/password", json=body, headers=factory.headers(patient))
        assert_problem(wrong, 422)
    body["current_password"] = PASSWORD
    limited = client.post("/api/v1/me/password", json=body, headers=factory.headers(patient))
    assert_problem(limited, 429)


def test_the_console_and_the_api_share_one_guessing_budget(client, factory, mongo):
    provider = factory.provider()
    address = {"REMOTE_ADDR": "10.6.0.1"}
    for _ in range(3):
        assert_problem(login(client, provider.email, "wrong", address="10.6.0.1"), 401)
    for _ in range(2):
        form = {"email": provider.email.upper(), "password": "wrong"}
        page = client.post(
            "/console/login", data=form, base_url="https://localhost", environ_base=address
        )
        assert page.status_code == 401
    # Five failures in all, from one address, for one account: both doors are shut.
    assert_problem(login(client, provider.email, "wrong", address="10.6.0.1"), 429)
    form = {"email": provider.email, "password": "wrong"}
    page = client.post(
        "/console/login", data=form, base_url="https://localhost", environ_base=address
    )
    assert page.status_code == 429
    # No counter names the account.
    counters = [str(d) for name in ("counters", "windows") for d in mongo[name].find()]
    assert any("login-account" in c for c in counters)
    assert not any(provider.email.split("@")[0] in c.lower() for c in counters)
