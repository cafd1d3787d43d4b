"""The alerts worklist across the provider's panel, urgent first, with acknowledge."""

from flask import render_template, request

from api.auth import caller
from api.console.blueprint import bp
from api.console.session import signed_in
from api.models.user import User
from api.services.alerts import engine as alerts
from api.services.alerts import reading as alert_reading
from api.services.alerts import verdicts

PAGE_SIZE = 25


@bp.route("/alerts", methods=["GET"])
@signed_in("provider")
def alerts_page():
    try:
        page = max(1, min(int(request.args.get("page", 1)), 100_000))
    except ValueError:
        page = 1
    found = alert_reading.worklist(caller().id)
    total = found.count()
    shown = list(found.skip((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))
    patients = {
        u.pk: u
        for u in User.objects(pk__in=list({a.patient for a in shown})).only("name", "timezone")
    }
    rules = {r["_id"]: r for r in alerts.rules().find({"_id": {"$in": [a.rule for a in shown]}})}
    rows = [
        {
            "alert": a,
            "patient": patients.get(a.patient),
            "what": verdicts.describe(rules[a.rule], a.level) if a.rule in rules else a.measure,
        }
        for a in shown
    ]
    return render_template(
        "console/alerts.html",
        nav="alerts",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )
