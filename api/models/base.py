"""Shared base for documents: timestamps and the string id clients see."""

import mongoengine as me

from api.clock import utcnow


class TimestampedDocument(me.Document):
    meta = {"abstract": True}

    created_at = me.DateTimeField(required=True, default=utcnow)
    updated_at = me.DateTimeField(required=True, default=utcnow)

    def clean(self):
        self.updated_at = utcnow()

    @property
    def public_id(self) -> str:
        return str(self.pk)
