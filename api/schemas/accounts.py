"""Accounts: sign-up, login, tokens, profile, provider creation."""

from zoneinfo import ZoneInfo, available_timezones

import marshmallow as ma
from marshmallow import validate

from api.models.user import GLUCOSE_UNITS, ROLES
from api.schemas.base import LocalTime, Schema, UtcDateTime, refuse_unsafe
from api.services.identity.common_passwords import is_common

PASSWORD_MIN, PASSWORD_MAX = 10, 128
_ZONES = available_timezones()


def validate_timezone(value: str) -> None:
    if value not in _ZONES:
        raise ma.ValidationError("Must be an IANA time zone name, e.g. 'America/Chicago'.")
    ZoneInfo(value)


class TrimmedString(ma.fields.String):
    """Surrounding spaces (phone keyboards add them) are dropped before validation."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class EmailAddress(TrimmedString, ma.fields.Email):
    pass


def email_field(**kwargs):
    return EmailAddress(validate=validate.Length(max=254), **kwargs)


def not_common(password: str) -> None:
    if is_common(password):
        raise ma.ValidationError(
            "This password is one of the most common ones; choose something less guessable."
        )


def password_field(**kwargs):
    return ma.fields.String(
        validate=[validate.Length(min=PASSWORD_MIN, max=PASSWORD_MAX), not_common],
        load_only=True,
        metadata={
            "description": f"At least {PASSWORD_MIN} characters, and not one of the 30,000 "
            "most common passwords."
        },
        **kwargs,
    )


class PersonName(TrimmedString):
    """A person's name: control characters and bidirectional overrides are refused (422),
    never silently changed, since others see the name."""

    refuses_unsafe_text = True


def name_field(**kwargs):
    return PersonName(validate=[validate.Length(min=1, max=200), refuse_unsafe], **kwargs)


def specialty_field(**kwargs):
    return ma.fields.String(
        validate=validate.Length(min=2, max=80),
        metadata={"example": "primary care"},
        **kwargs,
    )


class CliUserSchema(Schema):
    role = ma.fields.String(required=True, validate=validate.OneOf(ROLES))
    email = email_field(required=True)
    password = password_field(required=True)
    name = name_field(required=True)
    specialty = specialty_field()

    @ma.validates_schema
    def _provider_has_specialty(self, data, **kwargs):
        if data.get("role") == "provider" and not data.get("specialty"):
            raise ma.ValidationError("A provider needs a specialty.", "specialty")


class QuietHoursSchema(Schema):
    start = LocalTime(required=True, metadata={"example": "22:00"})
    end = LocalTime(required=True, metadata={"example": "07:00"})

    @ma.validates_schema
    def _both_ends(self, data, **kwargs):
        # A profile PATCH loads partially and marshmallow passes that down to nested schemas,
        # but quiet hours are always replaced whole.
        for name in ("start", "end"):
            if name not in data:
                raise ma.ValidationError("Missing data for required field.", name)


class ProfileSchema(Schema):
    id = ma.fields.String(dump_only=True)
    email = ma.fields.String(dump_only=True)
    role = ma.fields.String(dump_only=True)
    specialty = ma.fields.String(dump_only=True, allow_none=True)
    name = name_field()
    timezone = ma.fields.String(validate=validate_timezone, metadata={"example": "Europe/Oslo"})
    reminder_time = LocalTime(metadata={"example": "08:00"})
    quiet_hours = ma.fields.Nested(QuietHoursSchema, allow_none=True)
    glucose_unit = ma.fields.String(validate=validate.OneOf(GLUCOSE_UNITS), allow_none=True)
    outreach_opt_out = ma.fields.Boolean()
    birth_date = ma.fields.Date(dump_only=True, allow_none=True)
    created_at = UtcDateTime(dump_only=True)


class RegisterSchema(Schema):
    email = email_field(required=True)
    password = password_field(required=True)
    name = name_field(required=True)
    timezone = ma.fields.String(validate=validate_timezone, load_default="UTC")
    invite_code = ma.fields.String(validate=validate.Length(min=4, max=64), load_only=True)


class LoginSchema(Schema):
    email = ma.fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = ma.fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=PASSWORD_MAX)
    )


class TokenPairSchema(Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "seconds"})


class VerifiedSchema(TokenPairSchema):
    user_id = ma.fields.String(required=True)
    care_team_joined = ma.fields.Boolean(
        required=True,
        metadata={"description": "Whether the sign-up's invite code joined a care team."},
    )


def code_field(**kwargs):
    return TrimmedString(
        validate=validate.Length(min=4, max=16),
        metadata={"example": "482913", "description": "The code from the mail."},
        **kwargs,
    )


class VerifyEmailSchema(Schema):
    email = ma.fields.String(required=True, validate=validate.Length(min=1, max=254))
    code = code_field(required=True)


class ResetRequestSchema(Schema):
    email = email_field(required=True)


class ResetConfirmSchema(Schema):
    email = ma.fields.String(required=True, validate=validate.Length(min=1, max=254))
    code = code_field(required=True)
    new_password = password_field(required=True)


class AcceptedSchema(Schema):
    detail = ma.fields.String(
        metadata={"example": "If the address can be used, a mail with the next step is on its way."}
    )


class PasswordChangeSchema(Schema):
    current_password = ma.fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=PASSWORD_MAX)
    )
    new_password = password_field(required=True)


class ProviderCreateSchema(Schema):
    email = email_field(required=True)
    name = name_field(required=True)
    specialty = specialty_field(required=True)


class ProviderSchema(Schema):
    id = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    email = ma.fields.String(dump_only=True)
    specialty = ma.fields.String(dump_only=True)


class ProviderQuerySchema(Schema):
    specialty = ma.fields.String(validate=validate.Length(min=1, max=80))
