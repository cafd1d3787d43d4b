"""Clinics: a group of providers; its patients are those on their active care teams."""

import mongoengine as me

from api.models.base import TimestampedDocument

MAX_CLINIC_PROVIDERS = 500


class Clinic(TimestampedDocument):
    name = me.StringField(required=True, max_length=200)
    # The name folded for uniqueness, so "Northside Clinic" and "northside clinic " clash.
    name_key = me.StringField(required=True, max_length=200, unique=True)
    # A clinic has tens of providers, so the list lives on the clinic: membership is one
    # lookup by _id, and "which clinics is this provider in" uses the multikey index.
    providers = me.ListField(me.ObjectIdField(), default=list, max_length=MAX_CLINIC_PROVIDERS)
    created_by = me.ObjectIdField(required=True)

    meta = {"collection": "clinics", "indexes": ["providers"]}
