"""FHIR R4 resources to unsaved HealthSpace records: pure functions, no database.

A mapper takes a resource (a dict, already validated against its R4B model) and a `Resolver`
for references to other resources of the same file. It returns an unsaved record without
owner or source, or raises `NotStored` when HealthSpace keeps nothing of the resource.
"""

import base64
import binascii
import datetime
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from records.models import (
    Allergy,
    Claim,
    ClinicalNote,
    ClinicalRecord,
    Condition,
    Coverage,
    Encounter,
    ExplanationOfBenefit,
    Immunization,
    LabResult,
    Measurement,
    Medication,
    Procedure,
    VitalSign,
)

LOINC = "http://loinc.org"
ISO_4217 = "urn:iso:std:iso:4217"
# The identifier a HealthSpace export carries (its records' source keys); the importer reads it too.
SOURCE_KEY_SYSTEM = "urn:healthspace:source-key"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
# Clinical notes arrive inline (base64 text/plain); a larger one is cut rather than refused.
NOTE_MAX_CHARS = 500_000

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


class NotStored(Exception):
    """A valid resource of which HealthSpace keeps nothing; `label` names it in the report."""

    def __init__(self, label: str):
        super().__init__(label)
        self.label = label


Resolver = Callable[[dict | None, dict], dict | None]


# -- small readers ------------------------------------------------------------------------------


def parse_datetime(value) -> datetime.datetime | None:
    """An aware datetime from a FHIR date, dateTime or instant; a date alone is midnight UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        match = _PARTIAL_DATE.match(value)
        if match:
            year, month, day = match.groups()
            return datetime.datetime(int(year), int(month or 1), int(day or 1), tzinfo=datetime.UTC)
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    # FHIR requires a zone whenever there is a time; a file that omits it is read as UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def parse_date(value) -> datetime.date | None:
    """The calendar date of a FHIR date or dateTime, as written (in its own time zone)."""
    parsed = parse_datetime(value)
    return parsed.date() if parsed else None


def first_datetime(resource: dict, *paths: str) -> datetime.datetime | None:
    """The first parseable date among dotted paths such as `effectivePeriod.start`."""
    for path in paths:
        value = resource
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        parsed = parse_datetime(value)
        if parsed:
            return parsed
    return None


def concept_text(concept: dict | None) -> str:
    """What a CodeableConcept says in words: its text, else a coding's display, else its code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return concept["text"]
    codings = concept.get("coding") or []
    for key in ("display", "code"):
        for coding in codings:
            if coding.get(key):
                return coding[key]
    return ""


def concept_coding(concept: dict | None, system: str | None = None) -> dict:
    """The first coding with a code (of `system` when given), or {}."""
    for coding in (concept or {}).get("coding") or []:
        if coding.get("code") and (system is None or coding.get("system") == system):
            return coding
    return {}


def number_text(value) -> str:
    """A JSON number as plain decimal text (no exponent), exactly as the file wrote it."""
    if value is None or isinstance(value, bool):
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return ""
    return format(number, "f")


def reference_key(reference: str | None) -> str:
    """A reference in one comparable form: `Type/id`, or the `urn:` it is."""
    if not reference:
        return ""
    if reference.startswith("urn:"):
        return reference
    match = _REFERENCE.search(reference)
    return f"{match[1]}/{match[2]}" if match else reference


def _inline_text(attachment: dict) -> str:
    if not (attachment.get("contentType") or "").lower().startswith("text/plain") or not attachment.get("data"):
        return ""
    try:
        raw = base64.b64decode(attachment["data"])
    except (binascii.Error, ValueError):
        return ""
    return raw.decode("utf-8", errors="replace")[:NOTE_MAX_CHARS]


def _not_so(resource: dict) -> str:
    """Why a resource says it is not true ("entered in error", "refuted"), or ""."""
    verification = concept_coding(resource.get("verificationStatus")).get("code")
    if resource.get("status") == "entered-in-error" or verification == "entered-in-error":
        return "entered in error"
    # HealthSpace has no verification status: a ruled-out condition or allergy would read as real.
    return "refuted" if verification == "refuted" else ""


# -- mappers ------------------------------------------------------------------------------------


def condition(resource: dict, resolve: Resolver) -> Condition:
    """A Condition: its name, code, clinical status, onset and resolution."""
    coding = concept_coding(resource.get("code"))
    return Condition(
        name=concept_text(resource.get("code")) or "Condition",
        code=coding.get("code", ""),
        code_system=coding.get("system", ""),
        clinical_status=concept_coding(resource.get("clinicalStatus")).get("code", ""),
        abated_on=parse_date(resource.get("abatementDateTime"))
        or parse_date((resource.get("abatementPeriod") or {}).get("end")),
        effective_at=first_datetime(resource, "onsetDateTime", "onsetPeriod.start", "recordedDate"),
    )


def _medication_concept(resource: dict, resolve: Resolver) -> tuple[dict, str]:
    if resource.get("medicationCodeableConcept"):
        return resource["medicationCodeableConcept"], ""
    reference = resource.get("medicationReference") or {}
    medication = resolve(reference, resource)
    return (medication or {}).get("code") or {}, reference.get("display", "")


def medication(resource: dict, resolve: Resolver) -> Medication:
    """A MedicationRequest or MedicationStatement, its medication named directly or by reference."""
    concept, display = _medication_concept(resource, resolve)
    if resource["resourceType"] == "MedicationRequest":
        dosages = resource.get("dosageInstruction") or []
        ended = (resource.get("dispenseRequest") or {}).get("validityPeriod", {}).get("end")
        effective_at = first_datetime(resource, "authoredOn")
    else:
        dosages = resource.get("dosage") or []
        ended = (resource.get("effectivePeriod") or {}).get("end")
        effective_at = first_datetime(resource, "effectiveDateTime", "effectivePeriod.start", "dateAsserted")
    return Medication(
        name=concept_text(concept) or display or "Medication",
        code=concept_coding(concept).get("code", ""),
        code_system=concept_coding(concept).get("system", ""),
        dosage="\n".join(dosage["text"] for dosage in dosages if dosage.get("text")),
        status=resource.get("status", ""),
        ended_on=parse_date(ended),
        effective_at=effective_at,
    )


def _joined_to_fit(values: list[str], length: int) -> str:
    """As many whole values as fit, comma-separated."""
    joined = ""
    for value in values:
        candidate = f"{joined},{value}" if joined else value
        if len(candidate) > length:
            break
        joined = candidate
    return joined


def allergy(resource: dict, resolve: Resolver) -> Allergy:
    """An AllergyIntolerance with its reactions' manifestations."""
    manifestations = [
        concept_text(manifestation)
        for reaction in resource.get("reaction") or []
        for manifestation in reaction.get("manifestation") or []
    ]
    return Allergy(
        substance=concept_text(resource.get("code")) or "Allergy",
        code=concept_coding(resource.get("code")).get("code", ""),
        code_system=concept_coding(resource.get("code")).get("system", ""),
        category=_joined_to_fit(resource.get("category") or [], Allergy._meta.get_field("category").max_length),
        criticality=resource.get("criticality", ""),
        reaction="; ".join(text for text in manifestations if text),
        clinical_status=concept_coding(resource.get("clinicalStatus")).get("code", ""),
        effective_at=first_datetime(resource, "onsetDateTime", "onsetPeriod.start", "recordedDate"),
    )


def immunization(resource: dict, resolve: Resolver) -> Immunization:
    """An Immunization: vaccine, code, lot and date."""
    return Immunization(
        vaccine=concept_text(resource.get("vaccineCode")) or "Vaccine",
        code=concept_coding(resource.get("vaccineCode")).get("code", ""),
        code_system=concept_coding(resource.get("vaccineCode")).get("system", ""),
        lot_number=resource.get("lotNumber", ""),
        status=resource.get("status", ""),
        effective_at=first_datetime(resource, "occurrenceDateTime", "recorded"),
    )


def procedure(resource: dict, resolve: Resolver) -> Procedure:
    """A Procedure: name, code, status and date."""
    return Procedure(
        name=concept_text(resource.get("code")) or "Procedure",
        code=concept_coding(resource.get("code")).get("code", ""),
        code_system=concept_coding(resource.get("code")).get("system", ""),
        status=resource.get("status", ""),
        effective_at=first_datetime(resource, "performedDateTime", "performedPeriod.start"),
    )


def encounter(resource: dict, resolve: Resolver) -> Encounter:
    """An Encounter, its provider resolved from the Organization it points to."""
    encounter_class = resource.get("class") or {}
    provider = resource.get("serviceProvider") or {}
    organisation = resolve(provider, resource) or {}
    reasons = resource.get("reasonCode") or []
    return Encounter(
        name=concept_text((resource.get("type") or [None])[0]) or encounter_class.get("display") or "Visit",
        # A null flavour (UNK...) says the kind of visit is unknown: nothing to keep.
        encounter_class="" if encounter_class.get("system") == NULL_FLAVOR else encounter_class.get("code", ""),
        reason=concept_text(reasons[0]) if reasons else "",
        provider=organisation.get("name") or provider.get("display", ""),
        ended_at=parse_datetime((resource.get("period") or {}).get("end")),
        effective_at=first_datetime(resource, "period.start"),
    )


def _quantity_value(element: dict) -> tuple[str, str]:
    """(value, unit) of an element's valueQuantity or valueInteger."""
    if "valueQuantity" in element:
        quantity = element["valueQuantity"]
        return number_text(quantity.get("value")), quantity.get("unit") or quantity.get("code") or ""
    if "valueInteger" in element:
        return str(element["valueInteger"]), ""
    return "", ""


def _value_text(element: dict) -> str:
    if "valueString" in element:
        return element["valueString"]
    if "valueCodeableConcept" in element:
        return concept_text(element["valueCodeableConcept"])
    if "valueBoolean" in element:
        return "yes" if element["valueBoolean"] else "no"
    return ""


def observation(resource: dict, resolve: Resolver) -> Measurement:
    """A vital sign or lab result (numbers of other categories too); other Observations are not stored."""
    categories = {
        coding.get("code") for category in resource.get("category") or [] for coding in category.get("coding") or []
    }
    value, unit = _quantity_value(resource)
    components = []
    for component in resource.get("component") or []:
        component_value, component_unit = _quantity_value(component)
        item = {
            "name": concept_text(component.get("code")),
            "loinc_code": concept_coding(component.get("code"), LOINC).get("code", ""),
            "value": component_value,
            "unit": component_unit,
        }
        if _value_text(component):
            item["value_text"] = _value_text(component)
        components.append(item)
    if "vital-signs" in categories:
        model = VitalSign
    elif "laboratory" in categories or value:
        # Other categories (imaging, survey, social history...) are kept when they carry a number.
        model = LabResult
    else:
        label = sorted(code for code in categories if code)
        raise NotStored(f"Observation ({label[0]})" if label else "Observation")
    systolic = next((item for item in components if item["loinc_code"] == SYSTOLIC), None)
    if not value and systolic:
        value, unit = systolic["value"], systolic["unit"]
    ranges = resource.get("referenceRange") or []
    reference = ranges[0] if ranges else {}
    interpretations = resource.get("interpretation") or []
    return model(
        name=concept_text(resource.get("code")) or "Observation",
        loinc_code=concept_coding(resource.get("code"), LOINC).get("code", ""),
        value=value,
        value_text=_value_text(resource),
        unit=unit,
        reference_low=number_text((reference.get("low") or {}).get("value")),
        reference_high=number_text((reference.get("high") or {}).get("value")),
        reference_text=reference.get("text", ""),
        interpretation=concept_coding(interpretations[0]).get("code", "") if interpretations else "",
        components=components or None,
        effective_at=first_datetime(
            resource, "effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"
        ),
    )


def diagnostic_report(resource: dict, resolve: Resolver) -> ClinicalNote:
    """A report's conclusion and inline text as a note; without them it is not stored."""
    texts = [resource.get("conclusion", "")]
    texts += [_inline_text(form) for form in resource.get("presentedForm") or []]
    text = "\n\n".join(part for part in texts if part)
    if not text:
        # Without a conclusion the report is only a list of results, imported as Observations.
        raise NotStored("DiagnosticReport")
    performers = resource.get("performer") or []
    return ClinicalNote(
        title=concept_text(resource.get("code")) or "Report",
        text=text,
        author=performers[0].get("display", "") if performers else "",
        effective_at=first_datetime(resource, "effectiveDateTime", "effectivePeriod.start", "issued"),
    )


def document_reference(resource: dict, resolve: Resolver) -> ClinicalNote:
    """A document's title, author, date and inline text as a note."""
    attachments = [content.get("attachment") or {} for content in resource.get("content") or []]
    title = next((attachment["title"] for attachment in attachments if attachment.get("title")), "")
    authors = resource.get("author") or []
    return ClinicalNote(
        title=title or resource.get("description") or concept_text(resource.get("type")) or "Document",
        # Only inline text is read: a URL is never fetched.
        text="\n\n".join(text for text in map(_inline_text, attachments) if text),
        author=authors[0].get("display", "") if authors else "",
        effective_at=first_datetime(resource, "date", "context.period.start"),
    )


# -- insurance and costs --------------------------------------------------------------------------

# The premium has no element in FHIR R4's Coverage: HealthSpace's export carries it in this extension.
PREMIUM_EXTENSION = "urn:healthspace:monthly-premium"
# Adjudication categories, matched on the code's last segment (HL7's adjudication codes, CARIN Blue
# Button's, and the CMS Blue Button variables that Synthea writes, such as .../line_coinsrnc_amt).
ADJUDICATION_FIELDS = {
    "submitted": "billed",
    "line_sbmtd_chrg_amt": "billed",
    "eligible": "allowed",
    "line_alowd_chrg_amt": "allowed",
    "benefit": "insurer_paid",
    "paidtoprovider": "insurer_paid",
    "paidtopatient": "insurer_paid",
    "line_prvdr_pmt_amt": "insurer_paid",
    "line_bene_pmt_amt": "insurer_paid",
    "deductible": "deductible",
    "line_bene_ptb_ddctbl_amt": "deductible",
    "copay": "copay",
    "coinsurance": "coinsurance",
    "line_coinsrnc_amt": "coinsurance",
    "memberliability": "patient_owed",
}
COST_FIELDS = ("billed", "allowed", "insurer_paid", "deductible", "copay", "coinsurance")


def _money(element) -> tuple[Decimal | None, str]:
    """(value, currency) of a Money (or a Quantity used as one)."""
    if not isinstance(element, dict) or element.get("value") is None or isinstance(element.get("value"), bool):
        return None, ""
    try:
        value = Decimal(str(element["value"]))
    except InvalidOperation:
        return None, ""
    currency = element.get("currency") or (element.get("code") if element.get("system") == ISO_4217 else "") or ""
    return value, currency


def _category(adjudication: dict) -> str:
    """The HealthSpace field an adjudication or total counts toward, or ""."""
    for coding in (adjudication.get("category") or {}).get("coding") or []:
        code = (coding.get("code") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        if code in ADJUDICATION_FIELDS:
            return ADJUDICATION_FIELDS[code]
    return ""


def _amount_text(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


class _Amounts:
    """Sums per cost field, and the currency they are in (the first one named)."""

    def __init__(self):
        self.sums: dict[str, Decimal] = {}
        self.currency = ""

    def add(self, name: str, element) -> None:
        value, currency = _money(element)
        if value is None:
            return
        self.sums[name] = self.sums.get(name, Decimal(0)) + value
        self.currency = self.currency or currency

    def text(self, name: str) -> str:
        return _amount_text(self.sums.get(name))


def _item_lines(resource: dict) -> tuple[list[dict], _Amounts]:
    """Each billed line with its amounts, and the amounts summed over the lines."""
    lines, summed = [], _Amounts()
    for item in resource.get("item") or []:
        amounts = _Amounts()
        for adjudication in item.get("adjudication") or []:
            name = _category(adjudication)
            if name:
                amounts.add(name, adjudication.get("amount"))
        if "billed" not in amounts.sums:
            amounts.add("billed", item.get("net"))
        for name in amounts.sums:
            summed.sums[name] = summed.sums.get(name, Decimal(0)) + amounts.sums[name]
        summed.currency = summed.currency or amounts.currency
        concept = item.get("productOrService")
        line = {"name": concept_text(concept), "code": concept_coding(concept).get("code", "")}
        line.update({name: amounts.text(name) for name in COST_FIELDS if name in amounts.sums})
        lines.append(line)
    return lines, summed


def _item_reference(resource: dict, element: str) -> dict | None:
    """The first item's reference to its visit (`encounter`), as a Reference."""
    for item in resource.get("item") or []:
        for reference in item.get(element) or []:
            if isinstance(reference, dict):
                return reference
    return None


def _focal_insurance(resource: dict) -> dict:
    insurances = resource.get("insurance") or []
    return next((item for item in insurances if item.get("focal")), insurances[0] if insurances else {})


def _party_name(reference: dict | None, resource: dict, resolve: Resolver) -> str:
    """The name of an Organization a reference points to (resolved, contained or displayed)."""
    found = resolve(reference, resource) or {}
    return found.get("name") or (reference or {}).get("display") or ""


def _insurer(resource: dict, resolve: Resolver) -> str:
    if resource.get("insurer"):
        return _party_name(resource["insurer"], resource, resolve)
    coverage_reference = _focal_insurance(resource).get("coverage") or {}
    coverage = resolve(coverage_reference, resource) or {}
    payors = coverage.get("payor") or []
    return (_party_name(payors[0], coverage, resolve) if payors else "") or coverage_reference.get("display", "")


def _links(resource: dict) -> dict[str, tuple[str, dict | None]]:
    """Where the importer finds the visit and plan a claim or its answer belongs to."""
    return {
        "encounter_key": ("Encounter", _item_reference(resource, "encounter")),
        "coverage_key": ("Coverage", _focal_insurance(resource).get("coverage")),
    }


def _cost_common(resource: dict, resolve: Resolver) -> dict:
    lines, _summed = _item_lines(resource)
    first = next((line["name"] for line in lines if line["name"]), "")
    return {
        "name": first or concept_text(resource.get("type")) or resource["resourceType"],
        "provider": _party_name(resource.get("provider"), resource, resolve),
        "insurer": _insurer(resource, resolve),
        "claim_type": concept_coding(resource.get("type")).get("code", ""),
        "status": resource.get("status", ""),
        "items": lines or None,
        "effective_at": first_datetime(resource, "billablePeriod.start", "created"),
    }


def claim(resource: dict, resolve: Resolver) -> Claim:
    """A Claim: what was billed for a visit, line by line."""
    lines, summed = _item_lines(resource)
    total, currency = _money(resource.get("total"))
    record = Claim(
        **_cost_common(resource, resolve),
        billed=_amount_text(total) or summed.text("billed"),
        currency=currency or summed.currency,
    )
    record.fhir_links = _links(resource)
    return record


def explanation_of_benefit(resource: dict, resolve: Resolver) -> ExplanationOfBenefit:
    """An ExplanationOfBenefit: billed, allowed, paid by the insurer and owed by the patient.

    The totals the insurer gives win (`payment.amount` counts as the total it paid); a field without a
    total is summed over the lines.
    """
    lines, summed = _item_lines(resource)
    totals = _Amounts()
    for total in resource.get("total") or []:
        name = _category(total)
        if name:
            totals.add(name, total.get("amount"))
    payment, payment_currency = _money((resource.get("payment") or {}).get("amount"))
    if payment is not None and "insurer_paid" not in totals.sums:
        totals.sums["insurer_paid"] = payment
    amounts = {name: totals.text(name) or summed.text(name) for name in COST_FIELDS}
    owed = totals.text("patient_owed")
    if not owed and any(amounts[name] for name in ("deductible", "copay", "coinsurance")):
        owed = _amount_text(sum(Decimal(amounts[name] or 0) for name in ("deductible", "copay", "coinsurance")))
    record = ExplanationOfBenefit(
        **_cost_common(resource, resolve),
        **amounts,
        patient_owed=owed,
        outcome=resource.get("outcome", ""),
        currency=totals.currency or summed.currency or payment_currency,
    )
    record.fhir_links = {**_links(resource), "claim_key": ("Claim", resource.get("claim"))}
    return record


def _coverage_class(resource: dict, kind: str) -> str:
    for item in resource.get("class") or []:
        if concept_coding(item.get("type")).get("code") == kind:
            return item.get("name") or item.get("value") or ""
    return ""


def _member_number(resource: dict) -> str:
    for identifier in resource.get("identifier") or []:
        if concept_coding(identifier.get("type")).get("code") == "MB" and identifier.get("value"):
            return identifier["value"]
    if resource.get("subscriberId"):
        return resource["subscriberId"]
    identifiers = [item for item in resource.get("identifier") or [] if item.get("system") != SOURCE_KEY_SYSTEM]
    return identifiers[0].get("value", "") if identifiers else ""


def coverage(resource: dict, resolve: Resolver) -> Coverage:
    """A Coverage: insurer, plan, member number, period, and the deductible, out-of-pocket maximum and
    co-insurance of `costToBeneficiary` (a copay per visit type is not kept)."""
    costs: dict[str, tuple[Decimal | None, str]] = {}
    for cost in resource.get("costToBeneficiary") or []:
        code = concept_coding(cost.get("type")).get("code", "")
        value = cost.get("valueMoney") or cost.get("valueQuantity")
        if code in ("deductible", "maxoutofpocket", "copaypct") and code not in costs:
            costs[code] = _money(value)
    premium = next(
        (
            _money(item.get("valueMoney"))
            for item in resource.get("extension") or []
            if item.get("url") == PREMIUM_EXTENSION
        ),
        (None, ""),
    )
    currencies = [currency for _value, currency in (*costs.values(), premium) if currency]
    payors = resource.get("payor") or []
    period = resource.get("period") or {}
    return Coverage(
        insurer=(_party_name(payors[0], resource, resolve) if payors else "") or "Insurance",
        plan_name=_coverage_class(resource, "plan") or _coverage_class(resource, "group"),
        member_number=_member_number(resource),
        coverage_type=concept_text(resource.get("type")),
        payer=_party_name(resource.get("policyHolder"), resource, resolve),
        status=resource.get("status", ""),
        effective_at=parse_datetime(period.get("start")),
        ends_on=parse_date(period.get("end")),
        deductible=_amount_text(costs.get("deductible", (None, ""))[0]),
        out_of_pocket_max=_amount_text(costs.get("maxoutofpocket", (None, ""))[0]),
        coinsurance_percent=_amount_text(costs.get("copaypct", (None, ""))[0]),
        premium_monthly=_amount_text(premium[0]),
        currency=currencies[0] if currencies else "",
    )


MAPPERS: dict[str, Callable[[dict, Resolver], ClinicalRecord]] = {
    "Condition": condition,
    "MedicationRequest": medication,
    "MedicationStatement": medication,
    "AllergyIntolerance": allergy,
    "Immunization": immunization,
    "Procedure": procedure,
    "Encounter": encounter,
    "Observation": observation,
    "DiagnosticReport": diagnostic_report,
    "DocumentReference": document_reference,
    "Coverage": coverage,
    "Claim": claim,
    "ExplanationOfBenefit": explanation_of_benefit,
}


def to_record(resource: dict, resolve: Resolver) -> ClinicalRecord:
    """The unsaved record for a resource of a mapped type, or raise NotStored."""
    if reason := _not_so(resource):
        raise NotStored(f"{resource['resourceType']} ({reason})")
    return MAPPERS[resource["resourceType"]](resource, resolve)


def patient_details(resource: dict) -> dict:
    """Name, birth date and gender of a Patient, for the profile screen to offer (never stored here)."""
    names = resource.get("name") or []
    name = next((item for item in names if item.get("use") == "official"), names[0] if names else {})
    full_name = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
    return {"name": full_name, "birth_date": resource.get("birthDate", ""), "gender": resource.get("gender", "")}
