"""The services' layout rules (docs/architecture.md, issue 16): read from the source, so a
module that breaks one fails here whether or not a test happens to import it.

Services take plain values and injected settings: they never import the HTTP edge (schemas,
resources, the console's pages, the FHIR and Nightscout routes, the access rule and the
signed-in caller) nor Flask's request-bound globals, at module level or inside a function.
"""

import ast
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from api.clock import utcnow
from api.services.identity import passwords, tokens

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "api" / "services"
SERVICE_FILES = sorted(SERVICES.rglob("*.py"))

# flask: request, current_app and g exist only inside a request or an app context, which a
# job's pool thread does not have (issue 16, defect 0). flask_jwt_extended is a library.
FORBIDDEN_MODULES = (
    "api.schemas",
    "api.resources",
    "api.console",
    "api.fhir",
    "api.nightscout",
    "api.access",
    "api.auth",
    "flask",
)


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in the file, `from a import b` giving `a.b`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _offences(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{_name(path)}:{line} imports {name}"
        for line, name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    ]


def test_the_services_are_all_read():
    assert len(SERVICE_FILES) > 50
    assert any(_imports(path) for path in SERVICE_FILES)


@pytest.mark.parametrize("forbidden", FORBIDDEN_MODULES)
def test_no_service_imports_the_http_edge(forbidden):
    offences = [o for path in SERVICE_FILES for o in _offences(path, (forbidden,))]
    assert offences == []


def test_the_check_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from api.schemas.alerts import AlertRuleCreateSchema\n")
    assert _imports(sample) == [(2, "api.schemas.alerts.AlertRuleCreateSchema")]


def test_identity_services_work_outside_an_app_context(app, factory, mongo):
    """What a job's pool thread sees: no app context, yet the app's settings are in force."""
    patient = factory.patient()
    done = {}

    def outside():
        done["hash"] = passwords.hash_password("a long enough passphrase")
        done["verified"] = passwords.verify_password(done["hash"], "a long enough passphrase")
        tokens.revoke_user(patient.pk, "test")

    thread = threading.Thread(target=outside)
    thread.start()
    thread.join(30)
    assert done["verified"] is True
    assert done["hash"].startswith("$argon2id$v=19$m=8192,t=1,p=1$")  # the test profile
    stored = mongo.revocations.find_one({"_id": f"user:{patient.pk}"})
    assert stored["reason"] == "test"
    assert stored["expires_at"] - utcnow() > timedelta(days=29)


def test_erasure_leaves_what_follows_to_its_flow():
    """Panel counts, clinic aggregates, tokens and grants move in `flows.erasure`, in order,
    like every other trigger's consequences; the records service erases records only."""
    imported = [name for _, name in _imports(SERVICES / "records" / "erasure.py")]
    assert [n for n in imported if n.startswith(("api.services.", "api.resources"))] == []


MAX_LINES = 400


def test_no_service_module_is_over_400_lines():
    long = {
        _name(path): n
        for path in SERVICE_FILES
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def _module_level_imports(path: Path) -> set[str]:
    """The api.* modules a module imports when it is loaded (not those inside functions)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_import_cycle_among_the_services():
    modules = {_name(path): path for path in SERVICE_FILES}
    graph = {
        name: {m for m in _module_level_imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    cycles, state = [], {}

    def visit(name, trail):
        state[name] = "open"
        for nxt in sorted(graph[name]):
            if state.get(nxt) == "open":
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
