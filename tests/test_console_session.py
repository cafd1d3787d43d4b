"""The console's session through HTTP: cookies, CSRF, sign-out, patients, other teams."""

import re

from tests.factories import PASSWORD
from tests.test_panel import join

SECURE = "https://localhost"


def sign_in(client, user, next_page=None):
    form = {"email": user.email, "password": PASSWORD}
    if next_page:
        form["next"] = next_page
    return client.post("/console/login", data=form, base_url=SECURE)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_sign_in_sets_strict_http_only_cookies_and_the_api_ignores_them(client, factory):
    provider = factory.provider()
    response = sign_in(client, provider)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"
    cookies = response.headers.getlist("Set-Cookie")
    assert {c.split("=")[0] for c in cookies} == {"access_token_cookie", "refresh_token_cookie"}
    for cookie in cookies:
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
        assert "Path=/console/" in cookie
    page = client.get("/console/", base_url=SECURE)
    assert page.status_code == 200
    assert "Triage" in page.text and provider.name in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    # The JSON API reads bearer headers only: the console's cookie is no credential there.
    client.set_cookie(
        "access_token_cookie",
        client.get_cookie("access_token_cookie", path="/console/").value,
        path="/api/v1/",
    )
    assert client.get("/api/v1/panel", base_url=SECURE).status_code == 401


def test_wrong_password_re_renders_with_the_email_kept(client, factory):
    provider = factory.provider()
    response = client.post(
        "/console/login",
        data={"email": provider.email, "password": "nope-nope-nope"},
        base_url=SECURE,
    )
    assert response.status_code == 401
    assert "The email or password is not correct." in response.text
    assert f'value="{provider.email}"' in response.text
    assert "Set-Cookie" not in response.headers
    missing = client.post("/console/login", data={"email": provider.email}, base_url=SECURE)
    assert missing.status_code == 422 and "Enter your password." in missing.text


def test_a_patient_is_told_the_console_is_for_the_care_team(client, factory, mongo):
    patient = factory.patient()
    response = sign_in(client, patient)
    assert response.status_code == 403
    assert "for your care team" in response.text
    assert "Set-Cookie" not in response.headers


def test_unsigned_page_goes_to_sign_in_and_back(client, factory):
    response = client.get("/console/?view=low_adherence", base_url=SECURE)
    assert response.status_code == 303
    assert (
        response.headers["Location"] == "/console/login?next=%2Fconsole%2F%3Fview%3Dlow_adherence"
    )
    provider = factory.provider()
    back = sign_in(client, provider, next_page="/console/?view=low_adherence")
    assert back.headers["Location"] == "/console/?view=low_adherence"
    evil = sign_in(client, provider, next_page="//evil.example/")
    assert evil.headers["Location"] == "/console/"


def test_missing_or_forged_csrf_is_refused_and_nothing_changes(client, factory, mongo):
    provider, patient = factory.provider(), factory.patient()
    factory.membership(patient, provider)
    sign_in(client, provider)
    url = f"/console/patients/{patient.pk}/reviewed"
    assert client.post(url, data={}, base_url=SECURE).status_code == 403
    forged = client.post(url, data={"csrf_token": "forged"}, base_url=SECURE)
    assert forged.status_code in (401, 403)
    assert (
        mongo.adherence_summaries.find_one({"_id": patient.pk, "reviewed_at": {"$exists": True}})
        is None
    )
    page = client.get(f"/console/patients/{patient.pk}", base_url=SECURE)
    done = client.post(url, data={"csrf_token": csrf_of(page.text)}, base_url=SECURE)
    assert done.status_code == 303
    stored = mongo.adherence_summaries.find_one({"_id": patient.pk})
    assert stored["reviewed_by"] == provider.pk and stored["reviewed_by_name"] == provider.name


def test_sign_out_revokes_the_tokens(client, factory):
    provider = factory.provider()
    sign_in(client, provider)
    page = client.get("/console/", base_url=SECURE)
    token = client.get_cookie("access_token_cookie", path="/console/").value
    out = client.post("/console/logout", data={"csrf_token": csrf_of(page.text)}, base_url=SECURE)
    assert out.status_code == 303
    # The same token, replayed, no longer works (here or as a bearer token on the API).
    assert (
        client.get("/api/v1/panel", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    client.set_cookie("access_token_cookie", token, path="/console/")
    assert client.get("/console/", base_url=SECURE).status_code == 303


def test_another_teams_patient_is_a_404_page(client, factory):
    provider, stranger, patient = factory.provider(), factory.provider(), factory.patient()
    factory.membership(patient, stranger)
    sign_in(client, provider)
    for url in (
        f"/console/patients/{patient.pk}",
        "/console/patients/nonsense",
        f"/console/patients/{patient.pk}/report",
    ):
        response = client.get(url, base_url=SECURE)
        assert response.status_code == 404, url
        assert "Not found" in response.text and "Traceback" not in response.text


def test_reviewed_api_route_and_the_panel(client, factory):
    provider, patient, other = factory.provider(), factory.patient(), factory.provider()
    join(patient, provider)
    headers = factory.headers(provider)
    response = client.post(f"/api/v1/patients/{patient.pk}/reviewed", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["reviewed_by"] == {"id": str(provider.pk), "name": provider.name}
    assert body["reviewed_at"].endswith("Z")
    panel = client.get("/api/v1/panel", headers=headers).get_json()
    assert panel[0]["last_reviewed"] == body
    stranger = client.post(
        f"/api/v1/patients/{patient.pk}/reviewed", headers=factory.headers(other)
    )
    assert stranger.status_code == 404
    patient_self = client.post("/api/v1/patients/me/reviewed", headers=factory.headers(patient))
    assert patient_self.status_code == 403


def test_an_expired_page_load_renews_from_the_refresh_cookie_once(client, factory, app):
    from datetime import timedelta

    from flask_jwt_extended import create_access_token

    provider = factory.provider()
    sign_in(client, provider)
    with app.test_request_context():
        expired = create_access_token(
            str(provider.pk),
            additional_claims={"role": "provider", "fam": "x", "iat_ms": 0},
            expires_delta=timedelta(seconds=-5),
        )
    client.set_cookie("access_token_cookie", expired, path="/console/")
    renewed = client.get("/console/?view=low_adherence", base_url=SECURE)
    assert renewed.status_code == 303
    assert renewed.headers["Location"] == "/console/?view=low_adherence"
    assert any(c.startswith("access_token_cookie=") for c in renewed.headers.getlist("Set-Cookie"))
    assert client.get("/console/?view=low_adherence", base_url=SECURE).status_code == 200
    # The refresh token was spent: an expired access token with it again means sign-in.
    spent = client.get_cookie("refresh_token_cookie", path="/console/").value
    client.set_cookie("access_token_cookie", expired, path="/console/")
    client.set_cookie("refresh_token_cookie", spent, path="/console/")
    client.get("/console/", base_url=SECURE)
    client.set_cookie("access_token_cookie", expired, path="/console/")
    client.set_cookie("refresh_token_cookie", spent, path="/console/")
    again = client.get("/console/", base_url=SECURE)
    assert again.status_code == 303 and again.headers["Location"].startswith("/console/login")
