"""Which data migrations a database has had: one document, `_id` "carepact"."""

import mongoengine as me


class AppliedMigration(me.EmbeddedDocument):
    number = me.IntField(required=True)
    name = me.StringField(required=True, max_length=200)
    applied_at = me.DateTimeField(required=True)


class SchemaVersion(me.Document):
    id = me.StringField(primary_key=True, default="carepact")
    version = me.IntField(required=True, default=0)  # the last migration applied
    applied = me.EmbeddedDocumentListField(AppliedMigration)

    meta = {"collection": "schema_version"}
