"""The home page: the provider's panel to triage, and the admin's landing."""

from flask import redirect, render_template, request, url_for

from api.auth import caller
from api.clock import utcnow
from api.console.blueprint import bp
from api.console.session import signed_in
from api.models.panel import SORTS, VIEWS
from api.services.care import agreement_templates
from api.services.clinic import panel, panel_search, triage
from api.services.common import local_days

PAGE_SIZE = 25
SORT_LABELS = {"adherence_7d": "7-day adherence", "adherence_30d": "30-day adherence"}
SORT_LABELS["last_log"] = "Last data"


def _choice(name: str, allowed, default: str) -> str:
    value = request.args.get(name, default)
    return value if value in allowed else default


def _page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 100_000))
    except ValueError:
        return 1


def condition_choices() -> list[str]:
    return sorted({c for t in agreement_templates.listing() for c in t.content.conditions})


@bp.route("/", methods=["GET"])
@signed_in()
def home():
    who = caller()
    if who.role == "admin":
        return redirect(url_for("console.admin"))
    view = _choice("view", VIEWS, "all")
    sort = _choice("sort", SORTS, "adherence_7d")
    order = _choice("order", ("asc", "desc"), "asc")
    name = (request.args.get("q") or "").strip()[:100]
    condition = (request.args.get("condition") or "").strip()[:80]
    page = _page_number()
    first = (page - 1) * PAGE_SIZE
    if name or condition:
        found = panel_search.search(
            who.id, name=name, condition=condition, view=view, sort=sort, descending=order == "desc"
        )
        total, rows = len(found), found[first : first + PAGE_SIZE]
    else:
        total, rows = panel.page(
            who.id, view=view, sort=sort, descending=order == "desc", first=first, size=PAGE_SIZE
        )
    now = utcnow()
    entries = panel.present(who.id, rows, now)
    conditions = triage.conditions_of([row["patient"] for row in rows])
    for entry, row in zip(entries, rows, strict=True):
        entry["conditions"] = conditions.get(row["patient"], [])
    return render_template(
        "console/triage.html",
        nav="triage",
        entries=entries,
        counts=triage.bucket_counts(who.id),
        buckets=triage.BUCKETS,
        view=view,
        sort=sort,
        order=order,
        q=name,
        condition=condition,
        conditions=condition_choices(),
        sort_labels=SORT_LABELS,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        now=now,
        today=local_days.today(now, None),
    )
