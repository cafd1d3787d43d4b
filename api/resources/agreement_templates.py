"""Agreement templates: reusable plans providers start agreements from."""

from flask.views import MethodView

from api.access import authenticated
from api.auth import caller
from api.clock import utcnow
from api.errors import PROBLEM_JSON
from api.extensions import Blueprint
from api.schemas.agreement_templates import (
    AgreementTemplateSchema,
    TemplateConflictProblemSchema,
    TemplateListArgsSchema,
)
from api.services.care import agreement_templates

blp = Blueprint(
    "agreement_templates",
    __name__,
    url_prefix="/api/v1/agreement-templates",
    description="Reusable care plans (built-in and providers' own).",
)


@blp.route("")
class AgreementTemplates(MethodView):
    @authenticated("provider")
    @blp.arguments(TemplateListArgsSchema, location="query")
    @blp.response(200, AgreementTemplateSchema(many=True))
    @blp.paginate()
    def get(self, args):
        """Built-in templates first, then providers' own; filter by `condition`."""
        return agreement_templates.listing(condition=args.get("condition"))

    @authenticated("provider")
    @blp.arguments(AgreementTemplateSchema)
    @blp.response(201, AgreementTemplateSchema)
    @blp.alt_response(
        409,
        schema=TemplateConflictProblemSchema,
        content_type=PROBLEM_JSON,
        description="A template with this id already exists.",
    )
    def post(self, data):
        """Save a reusable plan; start agreements from it with `template_id`."""
        return agreement_templates.create(data=data, author=caller().id, now=utcnow())
