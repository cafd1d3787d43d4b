"""Log entries: write (one, or a batch from an offline phone), list and sync, edit, delete."""

from flask import jsonify
from flask.views import MethodView
from marshmallow import ValidationError

from api.access import Need, authenticated, patient_scope
from api.auth import session_check
from api.clock import utcnow
from api.errors import ValidationFailed, flatten_errors
from api.extensions import Blueprint
from api.schemas.logs import (
    BatchResponseSchema,
    LogBatchSchema,
    LogChangesSchema,
    LogEntryCreateSchema,
    LogEntryPatchSchema,
    LogEntrySchema,
    LogQuerySchema,
)
from api.services.flows import entries as entry_flow
from api.services.tracking import log_reading, logs
from api.services.tracking.entry_input import Author

blp = Blueprint("logs", __name__, url_prefix="/api/v1", description="Log entries and sync.")

_entry = LogEntrySchema()
_entries = LogEntrySchema(many=True)
_changes = LogChangesSchema()
_item_loader = LogEntryCreateSchema()


def _load_item(raw):
    if not isinstance(raw, dict):
        raise ValidationFailed({"_body": ["Each entry must be an object."]})
    try:
        return _item_loader.load(raw)
    except ValidationError as error:
        raise ValidationFailed(flatten_errors(error.messages)) from None


# One path, two bodies: a page of entries, or (with `since`) the changes after a cursor.
_LISTING_OR_CHANGES = {
    "description": "Entries, newest first; or, with `since`, the changes after the cursor.",
    "headers": {"X-Pagination": {"$ref": "#/components/headers/PAGINATION"}},
    "content": {
        "application/json": {"schema": {"oneOf": [LogEntrySchema(many=True), LogChangesSchema]}}
    },
}


@blp.route("/patients/<pid>/logs")
class Logs(MethodView):
    @authenticated()
    @blp.arguments(LogQuerySchema, location="query")
    @blp.response(200)
    @blp.doc(responses={"200": _LISTING_OR_CHANGES})
    @blp.paginate(pager=None)
    @blp.alt_response(422, description="A bad filter or cursor.")
    def get(self, query, pid, pagination_parameters):
        """Entries, newest first (filters `goal_id`, `from`, `to`); or, with `since`, sync.

        With `?since=<cursor>` the body is instead `{changes, next_cursor, has_more}`
        (`LogChanges`): every change after the cursor once, in order, deletions as entries
        with `deleted: true`. Keep `next_cursor` for the next sync; `0` starts from the start.
        """
        scope = patient_scope(pid, Need.VIEW)
        prefs = log_reading.display_prefs(scope.patient_id)
        unit = prefs.get("glucose_unit")
        if "since" in query:
            found = log_reading.sync(
                scope.patient_id, since=int(query["since"]), limit=query["limit"], now=utcnow()
            )
            found["changes"] = [log_reading.present(c, unit) for c in found["changes"]]
            pagination_parameters.item_count = len(found["changes"])
            return jsonify(_changes.dump(found))
        found = log_reading.listing(
            scope.patient_id,
            goal_id=query.get("goal_id"),
            first=query.get("from_"),
            last=query.get("to"),
        )
        pagination_parameters.item_count = found.count()
        page = found.skip(pagination_parameters.first_item).limit(pagination_parameters.page_size)
        return _entries.dump([log_reading.present(entry, unit) for entry in page])

    @authenticated(revocation_by_write=True)
    @blp.arguments(LogEntryCreateSchema)
    @blp.response(201, LogEntrySchema)
    @blp.alt_response(200, schema=LogEntrySchema, description="A replay: the stored entry.")
    @blp.alt_response(409, description="This id exists with a different body.")
    def post(self, data, pid):
        """Log what the patient did against a goal of an agreement in force at `occurred_at`."""
        scope = patient_scope(pid, Need.LOG)
        entry, created, summary = entry_flow.log_entry(
            Author.of(scope), data, now=utcnow(), session=session_check()
        )
        return log_reading.present(entry, summary.get("glucose_unit")), 201 if created else 200


@blp.route("/patients/<pid>/logs/batch", methods=["POST"])
@authenticated(revocation_by_write=True)
@blp.arguments(LogBatchSchema)
@blp.response(200, BatchResponseSchema)
@blp.alt_response(422, description=f"More than {logs.MAX_BATCH} entries.")
def batch(data, pid):
    """Up to 500 entries from an offline phone; one result per item, in order."""
    scope = patient_scope(pid, Need.LOG)
    if len(data["entries"]) > logs.MAX_BATCH:
        raise ValidationFailed({"entries": [f"At most {logs.MAX_BATCH} entries per batch."]})
    results, summary = entry_flow.log_batch(
        Author.of(scope), data["entries"], _load_item, now=utcnow(), session=session_check()
    )
    unit = summary.get("glucose_unit")
    for result in results:
        if "entry" in result:
            result["entry"] = log_reading.present(result["entry"], unit)
    counts = {s: sum(r["status"] == s for r in results) for s in ("created", "duplicate", "error")}
    return {
        "created": counts["created"],
        "duplicates": counts["duplicate"],
        "errors": counts["error"],
        "results": results,
    }


@blp.route("/patients/<pid>/logs/<lid>")
class LogById(MethodView):
    @authenticated()
    @blp.response(200, LogEntrySchema)
    def get(self, pid, lid):
        """One entry (a deleted one shows `deleted: true`)."""
        scope = patient_scope(pid, Need.VIEW)
        unit = log_reading.display_prefs(scope.patient_id).get("glucose_unit")
        return log_reading.present(log_reading.get(scope.patient_id, lid), unit)

    @authenticated()
    @blp.arguments(LogEntryPatchSchema)
    @blp.response(200, LogEntrySchema)
    @blp.alt_response(409, description="Changed by someone else meanwhile.")
    def patch(self, changes, pid, lid):
        """Correct an entry; its earlier state is kept in `history`."""
        scope = patient_scope(pid, Need.LOG)
        entry, summary = entry_flow.edit_entry(Author.of(scope), lid, changes, now=utcnow())
        return log_reading.present(entry, summary.get("glucose_unit"))

    @authenticated()
    @blp.response(204)
    def delete(self, pid, lid):
        """Delete an entry; syncing phones receive it as a tombstone."""
        scope = patient_scope(pid, Need.LOG)
        entry_flow.delete_entry(Author.of(scope), lid, now=utcnow())
