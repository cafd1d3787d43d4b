"""The BOLA matrix: every `/patients/<pid>/...` route, every method, every kind of outsider.

Routes come from the app's URL map and request bodies from its OpenAPI document, so a route
added later is covered without a line of code here. Outsiders get 404 (401 for a token
problem) as problem+json, and not one document in any collection changes.
"""

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId, json_util
from flask_jwt_extended import create_access_token
from werkzeug.routing import IntegerConverter, UUIDConverter

from api import create_app
from api.errors import PROBLEM_JSON
from tests.factories import PASSWORD

BODY_METHODS = {"POST", "PUT", "PATCH"}
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


# --- the routes, their URLs and bodies ------------------------------------------------------


def patient_routes(app) -> list[tuple[str, str]]:
    """(rule, method) for every patient-scoped route the app serves."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/patients/<") and "pid" in rule.arguments:
            found += [(rule.rule, m) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(found)


def converters(app) -> dict[str, dict]:
    return {rule.rule: rule._converters for rule in app.url_map.iter_rules()}


def param_value(converter, candidate: str) -> str:
    if isinstance(converter, IntegerConverter):
        return "1"
    if isinstance(converter, UUIDConverter):
        return str(uuid.uuid4())
    return candidate


def build_url(rule: str, rule_converters: dict, pid: str, candidate: str) -> str:
    def value(match):
        name = match.group(1)
        return pid if name == "pid" else param_value(rule_converters[name], candidate)

    return _PARAM.sub(value, rule)


class Examples:
    """Plausible request bodies made from the OpenAPI document's schemas."""

    def __init__(self, document: dict, known_ids: dict[str, str]):
        self.document = document
        self.known_ids = known_ids

    def body_schema(self, rule: str, method: str) -> dict | None:
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", rule)
        operation = self.document["paths"].get(path, {}).get(method.lower(), {})
        content = operation.get("requestBody", {}).get("content", {})
        return content.get("application/json", {}).get("schema")

    def bodies(self, rule: str, method: str) -> list[dict]:
        schema = self.body_schema(rule, method) if method in BODY_METHODS else None
        if schema is None:
            return [{}]
        full, required = self.example(schema), self.example(schema, required_only=True)
        return [{}] + [b for b in (required, full) if isinstance(b, dict) and b]

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        for combinator in ("allOf", "oneOf", "anyOf"):
            if combinator in schema:
                return self.resolve(schema[combinator][0])
        return schema

    def example(self, schema: dict, name: str = "", required_only: bool = False, depth: int = 0):
        schema = self.resolve(schema)
        if "example" in schema:
            return schema["example"]
        if schema.get("enum"):
            return schema["enum"][0]
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if kind == "object":
            if depth > 4:
                return {}
            wanted = set(schema.get("required", [])) if required_only else None
            return {
                key: self.example(prop, key, required_only, depth + 1)
                for key, prop in schema.get("properties", {}).items()
                if not self.resolve(prop).get("readOnly") and (wanted is None or key in wanted)
            }
        if kind == "array":
            item = self.example(schema.get("items", {}), name, required_only, depth + 1)
            return [item] * max(1, schema.get("minItems", 1))
        if kind == "integer":
            return max(1, schema.get("minimum", 1))
        if kind == "number":
            return float(max(1, schema.get("minimum", 1)))
        if kind == "boolean":
            return False
        return self.string(schema, name)

    def string(self, schema: dict, name: str) -> str:
        fmt = schema.get("format")
        now = datetime.now(UTC)
        if fmt == "date-time":
            return now.isoformat(timespec="seconds").replace("+00:00", "Z")
        if fmt == "date":
            return now.date().isoformat()
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "email":
            return "someone@example.org"
        if fmt in ("uri", "url"):
            return "https://example.org/a"
        if name.endswith("_id"):
            return self.known_ids.get(name, str(ObjectId()))
        return "plausible text"[: schema.get("maxLength", 14)].ljust(
            schema.get("minLength", 1), "x"
        )


# --- what is stored -----------------------------------------------------------------------


def snapshot(mongo) -> dict[str, tuple[int, str]]:
    """Every collection's document count and a hash of its documents. Collections that hold
    no documents are left out: creating an index on first use writes no data."""
    state = {}
    for name in sorted(mongo.list_collection_names()):
        documents = sorted(json_util.dumps(d, sort_keys=True) for d in mongo[name].find())
        if documents:
            digest = hashlib.sha256("\n".join(documents).encode()).hexdigest()
            state[name] = (len(documents), digest)
    return state


def owned_ids(mongo, patient_id) -> dict[str, str]:
    """One id per collection holding documents about the patient (`patient` field)."""
    found = {}
    for name in sorted(mongo.list_collection_names()):
        document = mongo[name].find_one({"patient": patient_id}, {"_id": 1})
        if document is not None:
            found[name] = str(document["_id"])
    return found


# --- who calls ----------------------------------------------------------------------------


def token(app, user, *, expires_delta=None, secret=None) -> str:
    claims = {"role": user.role, "fam": uuid.uuid4().hex, "iat_ms": 0}
    with app.test_request_context():
        if secret is not None:
            app.config["JWT_SECRET_KEY"], original = secret, app.config["JWT_SECRET_KEY"]
        try:
            return create_access_token(
                str(user.pk), additional_claims=claims, expires_delta=expires_delta
            )
        finally:
            if secret is not None:
                app.config["JWT_SECRET_KEY"] = original


class World:
    """A patient with a care team in every state, some records, and a crowd of outsiders."""

    def __init__(self, app, client, mongo, factory):
        self.app, self.client, self.mongo, self.factory = app, client, mongo, factory
        self.patient = factory.patient(timezone="America/Chicago")
        self.pcp = factory.provider(specialty="primary care")
        factory.membership(self.patient, self.pcp)
        self.pending = factory.provider(specialty="endocrinology")
        factory.membership(self.patient, self.pending, status="pending", role="specialist")
        self.ended = factory.provider(specialty="cardiology")
        factory.membership(self.patient, self.ended, status="ended", role="specialist")
        self.other_patient = factory.patient()
        factory.membership(self.other_patient, self.pcp)
        self.stranger = factory.provider(specialty="primary care")
        self.admin = factory.admin()
        factory.agreement(self.patient, self.pcp)
        self.routes = patient_routes(app)
        self.converters = converters(app)
        self.document = client.get("/api/v1/openapi.json").get_json()
        self.populate()
        self.ids = owned_ids(mongo, self.patient.pk)

    def examples(self) -> Examples:
        known = {f"{name.rstrip('s')}_id": value for name, value in self.ids_now().items()}
        return Examples(self.document, known)

    def ids_now(self) -> dict[str, str]:
        return owned_ids(self.mongo, self.patient.pk)

    def populate(self) -> None:
        """Create records through the API itself, as the patient and the team, so the
        outsiders below aim at real objects."""
        examples = self.examples()
        for rule, method in self.routes:
            if method != "POST" or len(self.converters[rule]) != 1:
                continue
            for body in examples.bodies(rule, method)[1:]:
                for user in (self.patient, self.pcp):
                    url = build_url(rule, self.converters[rule], str(self.patient.pk), "")
                    self.client.post(url, json=body, headers=self.headers(user))

    def headers(self, user) -> dict:
        return self.factory.headers(user)

    def candidates(self, rule: str) -> list[str]:
        """Values for the other path parameters: a random id and the patient's real ones."""
        if len(self.converters[rule]) == 1:
            return [""]
        return [str(ObjectId()), *self.ids.values()]

    def requests(self, pid: str):
        """Every (method, url, body, headers) worth trying against the patient's routes."""
        examples = self.examples()
        for rule, method in self.routes:
            for n, candidate in enumerate(self.candidates(rule)):
                url = build_url(rule, self.converters[rule], pid, candidate)
                bodies = examples.bodies(rule, method) if n < 2 else [{}]
                for body in bodies:
                    # A plausible write also carries what careful clients send with one.
                    extra = {"If-Match": '"v1"', "Idempotency-Key": str(uuid.uuid4())}
                    yield rule, method, url, body, (extra if body else {})


OUTSIDERS = [
    "another patient",
    "a provider never on the team",
    "a pending specialist",
    "an ended member",
    "an admin",
    "a provider using me",
    "a provider using their own id",
    "an admin using their own id",
]
TOKEN_PROBLEMS = [
    "no token",
    "an expired token",
    "a revoked token",
    "a forged token",
    "a refresh token",
]


def outsider(world: World, who: str) -> tuple[dict, str]:
    pid = str(world.patient.pk)
    return {
        "another patient": (world.headers(world.other_patient), pid),
        "a provider never on the team": (world.headers(world.stranger), pid),
        "a pending specialist": (world.headers(world.pending), pid),
        "an ended member": (world.headers(world.ended), pid),
        "an admin": (world.headers(world.admin), pid),
        "a provider using me": (world.headers(world.pcp), "me"),
        # "self" is a patient's relation to their own records, never a provider's to itself.
        "a provider using their own id": (world.headers(world.pcp), str(world.pcp.pk)),
        "an admin using their own id": (world.headers(world.admin), str(world.admin.pk)),
    }[who]


def token_problem(world: World, problem: str) -> dict:
    """The patient's own identity, so only the token itself is wrong."""
    patient, app, client = world.patient, world.app, world.client
    if problem == "no token":
        return {}
    if problem == "an expired token":
        return {"Authorization": "Bearer " + token(app, patient, expires_delta=timedelta(-1))}
    if problem == "a forged token":
        forged = token(app, patient, secret="not-the-server-secret-" + "z" * 32)
        return {"Authorization": "Bearer " + forged}
    pair = client.post(
        "/api/v1/auth/login", json={"email": patient.email, "password": PASSWORD}
    ).get_json()
    if problem == "a refresh token":
        return {"Authorization": "Bearer " + pair["refresh_token"]}
    headers = {"Authorization": "Bearer " + pair["access_token"]}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    return headers


def attack(world: World, headers: dict, pid: str, expected: int) -> list[str]:
    failures = []
    for rule, method, url, body, extra in world.requests(pid):
        response = world.client.open(url, method=method, json=body, headers={**headers, **extra})
        problem = response.get_json(silent=True) or {}
        if (
            response.status_code != expected
            or response.mimetype != PROBLEM_JSON
            or problem.get("status") != expected
        ):
            failures.append(f"{method} {rule} -> {url} body={body}: {response.status_code}")
    return failures


@pytest.fixture
def world(app, client, mongo, factory):
    return World(app, client, mongo, factory)


def test_the_matrix_covers_the_patient_scoped_routes(world):
    rules = {rule for rule, _ in world.routes}
    assert "/api/v1/patients/<pid>/care-team" in rules
    assert "/api/v1/patients/<pid>/care-team/<member_id>" in rules
    assert "/api/v1/patients/<pid>/access-log" in rules
    assert world.ids, "the patient should own records the outsiders aim at"


def test_outsiders_get_404_and_change_nothing(world):
    report = []
    for who in OUTSIDERS:
        headers, pid = outsider(world, who)
        before = snapshot(world.mongo)
        report += [f"{who}: {failure}" for failure in attack(world, headers, pid, 404)]
        if snapshot(world.mongo) != before:
            report.append(f"{who}: something was written")
    assert report == [], f"{len(report)} leaks\n" + "\n".join(report)


def test_token_problems_get_401_and_change_nothing(world):
    pid = str(world.patient.pk)
    report = []
    for problem in TOKEN_PROBLEMS:
        headers = token_problem(world, problem)
        before = snapshot(world.mongo)
        report += [f"{problem}: {failure}" for failure in attack(world, headers, pid, 401)]
        if snapshot(world.mongo) != before:
            report.append(f"{problem}: something was written")
    assert report == [], f"{len(report)} leaks\n" + "\n".join(report)


def test_an_id_that_is_not_an_object_id_is_404(world):
    failures = attack(world, world.headers(world.patient), "not-a-patient-id", 404)
    assert failures == [], "\n".join(failures)


def test_the_patient_and_an_active_member_get_through(world):
    """The positive control: the same requests, by those the rule lets in, are not 404 on the
    patient's own collections, and none of them is a server error or a 401."""
    failures = []
    # The member goes first, and DELETE is left out, so nobody ends the membership mid-sweep.
    for user, pid in ((world.pcp, str(world.patient.pk)), (world.patient, "me")):
        headers = world.headers(user)
        for rule, method, url, body, extra in world.requests(pid):
            if method == "DELETE":
                continue
            response = world.client.open(
                url, method=method, json=body, headers={**headers, **extra}
            )
            status = response.status_code
            only_pid = len(world.converters[rule]) == 1
            if status >= 500 or status == 401 or (method == "GET" and only_pid and status == 404):
                failures.append(f"{user.role} {method} {url} body={body}: {status}")
    assert failures == [], "\n".join(failures)


def test_a_members_reads_reach_every_route_and_are_logged(world, mongo):
    """Past the rule, a member's GET of any route leaves an access-log entry (or is refused
    with 403 for a patient-only route): proof the rule let them in, even when the object
    itself does not exist."""
    pid = str(world.patient.pk)
    headers = world.headers(world.pcp)
    failures = []
    for rule, method in world.routes:
        if method != "GET":
            continue
        for candidate in world.candidates(rule):
            mongo.access_log.delete_many({})
            url = build_url(rule, world.converters[rule], pid, candidate)
            status = world.client.get(url, headers=headers).status_code
            logged = mongo.access_log.find_one({"action": f"GET {rule}", "actor": world.pcp.pk})
            if not (status == 403 or logged):
                failures.append(f"GET {url}: {status}, logged={bool(logged)}")
    assert failures == [], "\n".join(failures)


def test_a_second_app_on_the_same_database_applies_the_same_rule(app_config, world):
    other = create_app(app_config).test_client()
    url = f"/api/v1/patients/{world.patient.pk}/care-team"
    assert other.get(url, headers=world.headers(world.stranger)).status_code == 404
    assert other.get(url, headers=world.headers(world.pcp)).status_code == 200


ACCOUNT_ROUTES = {
    # The account routes are for people who cannot sign in yet: no token needed.
    ("/api/v1/auth/register", "POST"): None,
    ("/api/v1/auth/verify-email", "POST"): None,
    ("/api/v1/auth/password-reset", "POST"): None,
    ("/api/v1/auth/password-reset/confirm", "POST"): None,
    ("/api/v1/auth/login", "POST"): None,
    # Creating a provider (who is mailed a set-up code) is for admins only.
    ("/api/v1/admin/providers", "POST"): "admin",
}


def test_the_account_routes_admit_whom_they_should(world):
    served = {(r.rule, m) for r in world.app.url_map.iter_rules() for m in r.methods}
    failures = []
    for (rule, method), role in ACCOUNT_ROUTES.items():
        assert (rule, method) in served, rule
        for user in (None, world.patient, world.pcp, world.admin):
            headers = world.headers(user) if user else {}
            status = world.client.open(rule, method=method, json={}, headers=headers).status_code
            allowed = role is None or (user is not None and user.role == role)
            expected = {422} if allowed else ({401} if user is None else {403})
            if status not in expected:
                failures.append(f"{method} {rule} as {user.role if user else 'nobody'}: {status}")
    assert failures == [], "\n".join(failures)
