"""sources.yaml ``crm:``: the HubSpot and Salesforce connectors, what they read and what they write back.

Kept apart from :mod:`leadops.config` (which imports it) so the connector settings stay in one short file.
Every key has a default that works with a standard portal or org; the defaults of ``columns``,
``write_back.fields`` and the activity objects are listed in the how-to guides.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import field_validator, BaseModel, ConfigDict, Field, model_validator

#: the leadops decisions a connector can write back, and where a standard setup writes them
WRITE_BACK_KEYS = ("owner", "score", "grade", "lifecycle_stage", "routing_reason", "sla_status")

HUBSPOT_COLUMNS = {"email": "email", "firstname": "first_name", "lastname": "last_name", "company": "company",
                   "jobtitle": "job_title", "phone": "phone", "country": "country", "hs_language": "language"}
HUBSPOT_WRITE_BACK = {"owner": "hubspot_owner_id", "score": "leadops_score", "grade": "leadops_grade",
                      "lifecycle_stage": "leadops_stage", "routing_reason": "leadops_routing_reason",
                      "sla_status": "leadops_sla_status"}
SALESFORCE_COLUMNS = {"Email": "email", "FirstName": "first_name", "LastName": "last_name", "Company": "company",
                      "Title": "job_title", "Phone": "phone", "Country": "country"}
SALESFORCE_CONTACT_COLUMNS = {"Email": "email", "FirstName": "first_name", "LastName": "last_name",
                              "Account.Name": "company", "Title": "job_title", "Phone": "phone", "MailingCountry": "country"}
SALESFORCE_WRITE_BACK = {"owner": "OwnerId", "score": "LeadOps_Score__c", "grade": "LeadOps_Grade__c",
                         "lifecycle_stage": "LeadOps_Stage__c", "routing_reason": "LeadOps_Routing_Reason__c",
                         "sla_status": "LeadOps_SLA_Status__c"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WriteBack(_Strict):
    """What goes back to the CRM: leadops decision -> CRM property (a key left out is not written)."""

    enabled: bool = True
    fields: dict[Literal["owner", "score", "grade", "lifecycle_stage", "routing_reason", "sla_status"], str] = {}
    batch_size: int = Field(100, ge=1, le=200)
    # before each batch, read the records' modification stamps and skip those changed in the CRM since leadops
    # read them (they are read again on the next sync and decided then): never overwrite blindly
    check_modified: bool = True


class _Connector(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    credentials_block: str | None = None  # a HubSpotCredentials / SalesforceCredentials block
    # re-read this much before the watermark (the CRM's search index lags behind its writes)
    overlap_seconds: float = Field(120, ge=0)
    source: str | None = None  # lead source of the records (sources.yaml lead_sources); else default_source
    source_property: str | None = None  # or the CRM property holding it, mapped by source_values
    source_values: dict[str, str] = {}  # CRM value -> lead source (unmapped values: `source`)
    campaign: str | None = None
    columns: dict[str, str] = {}  # CRM property -> lead field (replaces the default mapping when set)
    # the intake gate's email fill rate per page: CRMs hold people without an email (a contact from a call), each
    # quarantined with its reason; a page of them must not stop the sync (files default to 80%)
    min_email_fill_rate: float = Field(0.0, ge=0, le=1)
    write_back: WriteBack = WriteBack()
    timeout_seconds: float = Field(30, gt=0)
    max_retries: int = Field(5, ge=0, le=10)
    # the address of a record in the CRM's own UI, linked from Slack messages: {id} is the record's id, {object}
    # its object (contacts, Lead...); a default is derived where the connector knows enough (portal_id,
    # instance_url)
    record_url: str | None = Field(None, pattern=r"^https?://")

    @field_validator("record_url")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(id="1", object="contacts")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"only {{id}} and {{object}} may appear in braces ({type(exc).__name__}: {exc})") \
                    from None
        return value

    def record_link(self, obj: str, record_id: str) -> str | None:
        """Return the URL of one record in the CRM's UI, or None when it cannot be known from the configuration."""
        template = self.record_url or self._default_record_url(obj)
        return template.format(id=record_id, object=obj) if template else None

    def _default_record_url(self, obj: str) -> str | None:
        return None


class HubSpotConnector(_Connector):
    """A HubSpot portal: contacts (and the Leads object where enabled) and engagements, by the CRM search API."""

    kind: Literal["hubspot"]
    base_url: str = Field("https://api.hubapi.com", pattern=r"^https?://")
    token_env: str = "HUBSPOT_ACCESS_TOKEN"  # noqa: S105 - the name of a variable, not a secret
    objects: list[Literal["contacts", "leads"]] = ["contacts"]
    activities: list[Literal["calls", "emails", "meetings", "tasks"]] = ["calls", "emails", "meetings", "tasks"]
    page_size: int = Field(100, ge=1, le=200)
    # HubSpot's limits for a private app (Professional/Enterprise): 190 requests per 10 s, search 4/s
    requests_per_10s: float = Field(190, gt=0)
    search_per_second: float = Field(4, gt=0)
    # the portal (Hub) id, for links to records in HubSpot's UI (Settings > Account details)
    portal_id: str | None = Field(None, pattern=r"^[0-9]+$")

    def _default_record_url(self, obj: str) -> str | None:
        # HubSpot's object type ids in record URLs: 0-1 contacts, 0-136 leads
        type_id = {"contacts": "0-1", "leads": "0-136"}.get(obj)
        if self.portal_id is None or type_id is None:
            return None
        return f"https://app.hubspot.com/contacts/{self.portal_id}/record/{type_id}/{{id}}"

    @model_validator(mode="after")
    def _defaults(self) -> HubSpotConnector:
        self.columns = self.columns or dict(HUBSPOT_COLUMNS)
        if not self.write_back.fields:
            self.write_back.fields = dict(HUBSPOT_WRITE_BACK)  # type: ignore[assignment]
        self.write_back.batch_size = min(self.write_back.batch_size, 100)  # batch/update takes 100
        return self


class SalesforceConnector(_Connector):
    """A Salesforce org: Leads (and Contacts when listed) and Task/Event by WhoId, by SOQL on SystemModstamp."""

    kind: Literal["salesforce"]
    instance_url: str | None = Field(None, pattern=r"^https?://")  # else from the credentials
    env_prefix: str = "SALESFORCE"  # SALESFORCE_INSTANCE_URL, SALESFORCE_ACCESS_TOKEN, SALESFORCE_CLIENT_ID...
    api_version: str = Field("62.0", pattern=r"^\d+\.\d$")
    objects: list[Literal["Lead", "Contact"]] = ["Lead"]
    activities: list[Literal["Task", "Event"]] = ["Task", "Event"]
    contact_columns: dict[str, str] = {}  # for Contacts (Lead's columns otherwise)
    where: dict[str, str] = {"Lead": "IsConverted = false"}  # extra SOQL condition per object (trusted config)
    requests_per_second: float = Field(20, gt=0)
    # stop a run when less than this share of the org's daily API allocation is left (other integrations need it)
    daily_reserve: float = Field(0.1, ge=0, lt=1)
    bulk_above: int = Field(2000, ge=200)  # write-backs larger than this go through Bulk API 2.0

    def _default_record_url(self, obj: str) -> str | None:
        return f"{self.instance_url.rstrip('/')}/lightning/r/{{object}}/{{id}}/view" if self.instance_url else None

    @model_validator(mode="after")
    def _defaults(self) -> SalesforceConnector:
        self.columns = self.columns or dict(SALESFORCE_COLUMNS)
        self.contact_columns = self.contact_columns or dict(SALESFORCE_CONTACT_COLUMNS)
        if "batch_size" not in self.write_back.model_fields_set:
            self.write_back.batch_size = 200  # sObject Collections take 200 records a call
        if not self.write_back.fields:
            self.write_back.fields = dict(SALESFORCE_WRITE_BACK)  # type: ignore[assignment]
        return self


CrmConnector = Annotated[HubSpotConnector | SalesforceConnector, Field(discriminator="kind")]
