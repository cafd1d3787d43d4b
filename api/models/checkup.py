"""Check-up completions: what was done, when, with what result, and who recorded it."""

import mongoengine as me


class CheckupCompletion(me.Document):
    """One check-up or test done for a patient, recorded by a provider or self-reported.

    `match_key` is the check-up's code (else its name), lower-cased: the same test under two
    agreements (or two providers) is the same test for due dates and the duplicate guard.
    """

    patient = me.ObjectIdField(required=True)
    agreement = me.ObjectIdField(required=True)
    checkup_id = me.StringField(required=True, max_length=40)
    code = me.StringField(max_length=40)
    name = me.StringField(required=True, max_length=200)
    match_key = me.StringField(required=True, max_length=200)
    done_on = me.DateField(required=True)
    result = me.StringField(max_length=500)
    note = me.StringField(max_length=2000)
    recorded_by = me.ObjectIdField(required=True)
    recorded_by_role = me.StringField(max_length=20)
    self_reported = me.BooleanField(required=True, default=False)
    confirmed_duplicate = me.BooleanField(required=True, default=False)
    duplicate_of = me.ObjectIdField()
    duplicate_reason = me.StringField(max_length=500)
    created_at = me.DateTimeField(required=True)

    meta = {
        "collection": "checkup_completions",
        "indexes": [
            ("patient", "-done_on", "-created_at"),
            ("patient", "match_key", "-done_on"),
        ],
    }
