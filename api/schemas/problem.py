import marshmallow as ma


class ProblemSchema(ma.Schema):
    """application/problem+json (RFC 9457), the body of every error."""

    type = ma.fields.String(metadata={"example": "about:blank"})
    title = ma.fields.String(metadata={"example": "Unprocessable Entity"})
    status = ma.fields.Integer(metadata={"example": 422})
    detail = ma.fields.String()
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "On 422: the messages for each invalid field."},
    )
