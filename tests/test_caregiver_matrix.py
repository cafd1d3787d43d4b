"""Caregivers by every patient-scoped route, discovered from the URL map (no per-route code).

Each route is called with a body its own schema accepts (built from the marshmallow schema
flask-smorest keeps on the view), so the request reaches the access rule instead of stopping
at validation. Whether the rule let the caller in is read from the patient's access log, where
the rule records every access by someone other than the patient.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import marshmallow as ma
from bson import ObjectId

from tests.test_foundation import assert_problem

ZONE = "Pacific/Auckland"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Values a field of an unknown schema may need; each is tried until the field accepts one.
PLAIN_CANDIDATES = (
    "08:00",
    "UTC",
    "caregiver@example.org",
    "https://example.org/a",
    date.today().isoformat(),
    datetime.now(UTC).isoformat(),
    str(uuid.uuid4()),
    str(ObjectId()),
    "P3M",
    "x",
    "1",
    1,
    1.5,
    True,
    {},
)


def _field_candidates(field):
    for validator in field.validators:
        if isinstance(validator, ma.validate.OneOf):
            yield from validator.choices
        if isinstance(validator, ma.validate.Length) and validator.min:
            yield "x" * validator.min
        if isinstance(validator, ma.validate.Range) and validator.min is not None:
            yield validator.min
            yield validator.min + 1
    yield from PLAIN_CANDIDATES


class NoSample(Exception):
    """No candidate value satisfies a field or schema."""


def sample_value(field):
    if isinstance(field, ma.fields.Nested):
        body = sample_body(field.schema)
        return [body] if field.many else body
    if isinstance(field, ma.fields.List):
        candidates = ([], lambda: [sample_value(field.inner)])
    else:
        candidates = _field_candidates(field)
    for candidate in candidates:
        value = candidate() if callable(candidate) else candidate
        try:
            field.deserialize(value)
        except ma.ValidationError:
            continue
        return value
    raise NoSample(repr(field))


def _loads(schema, body) -> bool:
    try:
        schema.load(body)
    except ma.ValidationError:
        return False
    return True


def sample_body(schema) -> dict:
    """A body `schema` loads: its required fields, plus one optional field if it needs one."""
    schema = schema() if isinstance(schema, type) else schema
    fields = {(f.data_key or name): f for name, f in schema.load_fields.items()}
    required = {key: sample_value(f) for key, f in fields.items() if f.required}
    if _loads(schema, required):
        return required
    for key, field in fields.items():
        if field.required:
            continue
        try:
            body = {**required, key: sample_value(field)}
        except NoSample:
            continue
        if _loads(schema, body):
            return body
    raise NoSample(type(schema).__name__)


def _arguments(app, rule, method) -> dict:
    view = app.view_functions[rule.endpoint]
    handler = getattr(view.view_class, method.lower()) if hasattr(view, "view_class") else view
    parameters = getattr(handler, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return {p["in"]: sample_body(p["schema"]) for p in parameters if p["in"] in ("json", "query")}


def patient_scoped_calls(app):
    """(rule, method, kwargs for the test client, a path builder) for every API route.

    The console's pages take a cookie session, never these bearer tokens; their access rule
    is tested through the browser and tests/test_console_session.py."""
    calls = []
    for rule in app.url_map.iter_rules():
        if "<pid>" not in rule.rule or not rule.rule.startswith("/api/v1/"):
            continue
        others = {arg: str(ObjectId()) for arg in rule.arguments if arg != "pid"}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            arguments = _arguments(app, rule, method)
            calls.append((rule.rule, method, arguments, others))
    assert calls
    return sorted(calls, key=lambda call: (call[0], call[1]))


def call(client, headers, pid, rule, method, arguments, others):
    path = rule.replace("<pid>", str(pid))
    for name, value in others.items():
        path = path.replace(f"<{name}>", value)
    headers = {**headers, "If-Match": '"0"'}
    return client.open(
        path,
        method=method,
        headers=headers,
        json=arguments.get("json"),
        query_string=arguments.get("query"),
    )


def snapshot(mongo, *, without=()):
    """Every stored document (a collection created empty on first use holds nothing)."""
    documents = {
        name: sorted(mongo[name].find(), key=lambda doc: str(doc["_id"]))
        for name in sorted(mongo.list_collection_names())
        if name not in without
    }
    return {name: docs for name, docs in documents.items() if docs}


def patient_today(now=None):
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(ZONE)).date()


def family(factory):
    """A patient in Auckland with a provider on the team, and another family next door."""
    patient = factory.patient(timezone=ZONE)
    provider = factory.provider()
    factory.membership(patient, provider)
    factory.agreement(patient, provider)
    neighbour = factory.patient()
    factory.membership(neighbour, provider)
    return patient, neighbour


def test_the_matrix_covers_the_routes_it_must(app):
    routes = {(rule, method) for rule, method, *_ in patient_scoped_calls(app)}
    assert ("/api/v1/patients/<pid>/care-team", "GET") in routes
    assert ("/api/v1/patients/<pid>/caregivers", "POST") in routes
    assert ("/api/v1/patients/<pid>/caregivers/<gid>", "DELETE") in routes
    assert ("/api/v1/patients/<pid>/access-log", "GET") in routes


def test_a_sample_body_is_one_the_schema_accepts():
    class Inner(ma.Schema):
        low = ma.fields.Float(required=True, validate=ma.validate.Range(min=0))

    class Body(ma.Schema):
        kind = ma.fields.String(required=True, validate=ma.validate.OneOf(["a", "b"]))
        code = ma.fields.String(validate=ma.validate.Length(min=4, max=8))
        limits = ma.fields.List(ma.fields.Nested(Inner), required=True)

        @ma.validates_schema
        def _needs_code(self, data, **kwargs):
            if "code" not in data:
                raise ma.ValidationError("code please")

    body = sample_body(Body)
    assert Body().load(body) == {"kind": "a", "code": "xxxx", "limits": []}


def test_each_permission_gets_what_it_holds_on_every_route(app, client, factory, mongo):
    patient, _ = family(factory)
    holders = {
        "view": factory.patient(),
        "log": factory.patient(),
        "manage": factory.patient(),
    }
    cumulative = {"view": ["view"], "log": ["view", "log"], "manage": ["view", "log", "manage"]}
    for permission, holder in holders.items():
        factory.grant(patient, holder, permissions=cumulative[permission])
    calls = patient_scoped_calls(app)
    let_through, problems = {}, []
    for permission, holder in holders.items():
        headers = factory.headers(holder)
        before = snapshot(mongo, without={"access_log"})
        passed = set()
        for rule, method, arguments, others in calls:
            seen = mongo.access_log.count_documents({"actor": holder.pk})
            response = call(client, headers, patient.pk, rule, method, arguments, others)
            status = response.status_code
            if mongo.access_log.count_documents({"actor": holder.pk}) > seen:
                passed.add((rule, method))
            elif status != 403:
                # Someone with a grant in force is never told the patient does not exist.
                problems.append((permission, method, rule, status, "refused without a 403"))
            if status >= 500:
                problems.append((permission, method, rule, status, "server error"))
            if permission == "view" and method in WRITES and status != 403:
                problems.append((permission, method, rule, status, "a view-only write"))
            if status >= 400:
                assert_problem(response, status)
        if permission == "view":
            assert snapshot(mongo, without={"access_log"}) == before
        let_through[permission] = passed
    assert not problems, "\n".join(map(str, problems))
    # Reads are open to every grant; each permission reaches everything the weaker one does.
    assert ("/api/v1/patients/<pid>/care-team", "GET") in let_through["view"]
    assert let_through["view"] <= let_through["log"] <= let_through["manage"]
    entries = list(mongo.access_log.find({"actor": {"$in": [h.pk for h in holders.values()]}}))
    assert entries
    assert {e["relation"] for e in entries} == {"caregiver"}
    assert {e["patient"] for e in entries} == {patient.pk}


def test_ended_expired_and_other_families_grants_get_404_everywhere(app, client, factory, mongo):
    patient, neighbour = family(factory)
    ended, expired, other_family = factory.patient(), factory.patient(), factory.patient()
    everything = ["view", "log", "manage"]
    factory.grant(patient, ended, permissions=everything, status="ended")
    yesterday_there = patient_today() - timedelta(days=1)
    factory.grant(patient, expired, permissions=everything, expires_on=yesterday_there)
    factory.grant(neighbour, other_family, permissions=everything)
    calls = patient_scoped_calls(app)
    before = snapshot(mongo)
    for caller in (ended, expired, other_family):
        headers = factory.headers(caller)
        for rule, method, arguments, others in calls:
            response = call(client, headers, patient.pk, rule, method, arguments, others)
            where = f"{method} {rule} → {response.status_code}"
            if response.status_code == 403:
                # Only a route closed to the caller's role altogether, whoever the patient is.
                stranger = call(client, headers, ObjectId(), rule, method, arguments, others)
                assert stranger.status_code == 403, where
                assert stranger.get_json()["detail"] == response.get_json()["detail"], where
            else:
                assert_problem(response, 404)
    assert snapshot(mongo) == before


def test_the_expiry_day_is_the_patients_day(client, factory):
    patient, _ = family(factory)
    caregiver = factory.patient()
    grant = factory.grant(patient, caregiver, expires_on=patient_today())
    headers = factory.headers(caregiver)
    url = f"/api/v1/patients/{patient.pk}/care-team"
    assert client.get(url, headers=headers).status_code == 200
    grant.update(set__expires_on=patient_today() - timedelta(days=1))
    assert_problem(client.get(url, headers=headers), 404)
