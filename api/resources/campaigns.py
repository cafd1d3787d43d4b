"""Outreach campaigns: a clinic's providers target a cohort; the worker delivers."""

from api.access import authenticated
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.campaigns import (
    CampaignCreateSchema,
    CampaignOutcomeSchema,
    CampaignQuerySchema,
    CampaignSchema,
    CohortSizeSchema,
)
from api.services.clinic import campaigns, clinics

blp = Blueprint(
    "campaigns", __name__, url_prefix="/api/v1", description="Outreach campaigns of a clinic."
)


def _shape(campaign) -> dict:
    return {
        "id": str(campaign.pk),
        "clinic_id": str(campaign.clinic),
        "name": campaign.name,
        "cohort": campaign.cohort.to_mongo().to_dict(),
        "message": campaign.message.to_mongo().to_dict(),
        "education_item_id": campaign.education_item_id,
        "send_at": campaign.send_at,
        "status": campaign.status,
        "cohort_size": len(campaign.targets),
        "created_at": campaign.created_at,
    }


@blp.route("/clinics/<cid>/campaigns", methods=["POST"])
@authenticated("provider")
@blp.arguments(CampaignQuerySchema, location="query")
@blp.arguments(CampaignCreateSchema)
@blp.response(201, CampaignSchema)
@blp.alt_response(200, schema=CohortSizeSchema, description="`dry_run=true`: the count only.")
@blp.alt_response(404, description="No such clinic, or you are not one of its providers.")
def create_campaign(query, data, cid):
    """Target a cohort of the clinic's patients with a message (and an education item)."""
    clinic = clinics.clinic_for(cid, caller())
    result = campaigns.create(
        clinic=clinic, data=data, created_by=caller().id, now=utcnow(), dry_run=query["dry_run"]
    )
    if query["dry_run"]:
        return result, 200
    return _shape(result)


@blp.route("/clinics/<cid>/campaigns/<cmp>", methods=["GET"])
@authenticated("provider")
@blp.response(200, CampaignOutcomeSchema)
@blp.alt_response(404, description="No such campaign in a clinic of yours.")
def get_campaign(cid, cmp):
    """The campaign with its outcomes: targeted, delivered, read, education, gaps closed."""
    clinic = clinics.clinic_for(cid, caller())
    campaign = campaigns.get(clinic, cmp)
    return {
        **_shape(campaign),
        **campaigns.outcomes(campaign),
        "opted_out": campaign.opted_out,
        "pending": len(campaign.work) if campaign.status != "sent" else 0,
    }
