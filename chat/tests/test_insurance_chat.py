"""The assistant on insurance and costs, asked about a Synthea patient in English and French.

Expected amounts are computed here from the bundle's ExplanationOfBenefit and Claim resources (CMS Blue Button
adjudications, as Synthea writes them), then written the language's way and looked for in the answer.
"""

from __future__ import annotations

import datetime
import json
from decimal import ROUND_HALF_UP, Decimal

import pytest

from chat.engine import TextDelta, ToolUsed, Turn
from chat.offline import OfflineEngine
from chat.tools import tool_run
from records import services
from records.models import Coverage, ExplanationOfBenefit, Source

from .patient_data import BUNDLE, TODAY, date_en, date_fr, plain

BLUE_BUTTON = "https://bluebutton.cms.gov/resources/variables/"
LAST_YEAR_START = datetime.date(2007, 12, 1)  # "last year": the twelve months ending today


def _resources(kind: str) -> list[dict]:
    bundle = json.loads(BUNDLE.read_text(), parse_float=Decimal)
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind]


def _day(resource: dict) -> datetime.date:
    return datetime.date.fromisoformat(resource["billablePeriod"]["start"][:10])


def _adjudicated(resource: dict, variable: str) -> Decimal:
    return sum(
        (
            Decimal(adjudication["amount"]["value"])
            for item in resource.get("item", [])
            for adjudication in item.get("adjudication", [])
            if adjudication["category"]["coding"][0]["code"] == BLUE_BUTTON + variable and "amount" in adjudication
        ),
        Decimal(0),
    )


def expected_costs(start: datetime.date, end: datetime.date) -> dict:
    """Totals of the insurer's answers dated in the period, and the claims no answer refers to."""
    eobs = [resource for resource in _resources("ExplanationOfBenefit") if start <= _day(resource) <= end]
    answered = {
        resource["claim"]["reference"].removeprefix("urn:uuid:") for resource in _resources("ExplanationOfBenefit")
    }
    open_claims = [
        claim for claim in _resources("Claim") if claim["id"] not in answered and start <= _day(claim) <= end
    ]
    coinsurance = sum((_adjudicated(resource, "line_coinsrnc_amt") for resource in eobs), Decimal(0))
    deductible = sum((_adjudicated(resource, "line_bene_ptb_ddctbl_amt") for resource in eobs), Decimal(0))
    return {
        "visits": len(eobs),
        "billed": sum((Decimal(resource["total"][0]["amount"]["value"]) for resource in eobs), Decimal(0)),
        "paid": sum((Decimal(resource["payment"]["amount"]["value"]) for resource in eobs), Decimal(0)),
        "owed": coinsurance + deductible,
        "coinsurance": coinsurance,
        "deductible": deductible,
        "open_claims": len(open_claims),
        "open_billed": sum((Decimal(claim["total"]["value"]) for claim in open_claims), Decimal(0)),
    }


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def usd_en(value: Decimal) -> str:
    return f"${cents(value):,}"


def usd_fr(value: Decimal) -> str:
    return f"{cents(value):,}".replace(",", " ").replace(".", ",") + " $ US"


def ask(owner, question: str, *, language: str = "en"):
    events = list(OfflineEngine().reply(owner=owner, turns=[Turn("user", question)], language=language, memory=[]))
    text = "".join(event.text for event in events if isinstance(event, TextDelta))
    tools = [event for event in events if isinstance(event, ToolUsed)]
    citations = [citation for event in tools for citation in event.result.citations]
    return plain(text), tools, citations


def _plan(owner, **fields) -> Coverage:
    values = {
        "insurer": "Acme Health",
        "plan_name": "Silver",
        "deductible": "1500",
        "out_of_pocket_max": "5000",
        "currency": "USD",
        "effective_at": datetime.datetime(2005, 1, 1, tzinfo=datetime.UTC),
        **fields,
    }
    return services.record_create(user=owner, record=Coverage(**values))


# -- the tools -----------------------------------------------------------------------------------------------


def test_the_costs_tool_totals_a_years_answers_and_cites_each_visit(dennis, patient_client):
    start = TODAY - datetime.timedelta(days=364)  # the default: the last 365 days
    want = expected_costs(start, TODAY)

    result = tool_run(owner=dennis, name="insurance_costs", arguments={})

    data = result.data
    assert data["period"]["start"] == start.isoformat() and data["period"]["end"] == TODAY.isoformat()
    (total,) = data["totals"]
    assert total["currency"] == "USD" and total["visits"] == want["visits"] == 5
    assert Decimal(str(total["billed"])) == cents(want["billed"])
    assert Decimal(str(total["insurer_paid"])) == cents(want["paid"])
    assert Decimal(str(total["patient_owed"])) == cents(want["owed"])
    assert Decimal(str(total["coinsurance"])) == cents(want["coinsurance"])
    assert total["unanswered_claims"] == want["open_claims"] == 3
    assert Decimal(str(total["unanswered_billed"])) == cents(want["open_billed"])
    assert len(result.citations) == data["count"] == want["visits"] + want["open_claims"]
    for citation in result.citations:
        assert citation.kind == "insurance_cost" and patient_client.get(citation.url).status_code == 200


def test_the_coverage_tool_counts_the_plan_years_answers(dennis):
    _plan(dennis)
    want = expected_costs(datetime.date(2008, 1, 1), TODAY)

    (plan,) = tool_run(owner=dennis, name="insurance_coverage", arguments={}).data["items"]

    assert plan["plan_year"] == {"start": "2008-01-01", "end": "2008-12-31"}
    assert plan["deductible"] == 1500 and plan["out_of_pocket_max"] == 5000
    assert Decimal(str(plan["deductible_met"])) == cents(want["deductible"]) == 0  # Synthea applies none
    assert Decimal(str(plan["out_of_pocket_spent"])) == cents(want["owed"])
    assert Decimal(str(plan["out_of_pocket_left"])) == cents(5000 - want["owed"])
    assert plan["visits_counted"] == want["visits"]


# -- the offline engine --------------------------------------------------------------------------------------


def test_how_much_did_my_visits_cost_me_last_year(dennis):
    want = expected_costs(LAST_YEAR_START, TODAY)

    text, tools, citations = ask(dennis, "How much did my visits cost me last year?")

    assert [tool.name for tool in tools] == ["insurance_costs"]
    assert f"From {date_en(LAST_YEAR_START)} to {date_en(TODAY)}, 5 visits were billed {usd_en(want['billed'])}" in text
    assert f"your insurer paid {usd_en(want['paid'])} and you owed {usd_en(want['owed'])}." in text
    assert f"co-insurance {usd_en(want['coinsurance'])}" in text
    assert f"3 more claims, billed {usd_en(want['open_billed'])}, have no answer from the insurer yet." in text
    assert "[1][2][4][5][8]" in text and len(citations) == 8  # the totals cite the insurer's answers only
    assert "Inpatient stay (finding)" in text


def test_how_much_did_my_visits_cost_me_last_year_in_french(dennis):
    want = expected_costs(LAST_YEAR_START, TODAY)

    text, tools, _citations = ask(dennis, "Combien mes consultations m'ont-elles coûté l'année dernière ?")

    assert [tool.name for tool in tools] == ["insurance_costs"]
    assert f"Du {date_fr(LAST_YEAR_START)} au {date_fr(TODAY)}" in text
    assert usd_fr(want["billed"]) in text and usd_fr(want["paid"]) in text and usd_fr(want["owed"]) in text


def test_how_much_of_my_deductible_is_left(dennis):
    _plan(dennis)
    # An answer that applied part of the deductible, beside Synthea's (which apply none).
    ExplanationOfBenefit.objects.create(
        owner=dennis,
        source=Source.FHIR,
        source_key="d" * 64,
        name="Physiotherapy",
        billed="400",
        insurer_paid="160",
        deductible="200",
        coinsurance="40",
        patient_owed="240",
        currency="USD",
        effective_at=datetime.datetime(2008, 10, 2, tzinfo=datetime.UTC),
    )
    want = expected_costs(datetime.date(2008, 1, 1), TODAY)
    spent = want["owed"] + 240

    text, tools, citations = ask(dennis, "How much of my deductible is left?")

    assert [tool.name for tool in tools] == ["insurance_coverage"]
    assert "**Acme Health — Silver** (plan year from January 1, 2008 to December 31, 2008)" in text
    assert "Deductible $1,500.00: $200.00 met, $1,300.00 left." in text
    assert f"Out-of-pocket maximum $5,000.00: {usd_en(spent)} spent, {usd_en(5000 - spent)} left." in text
    assert citations[0].kind == "insurance_plan" and len(citations) == 1 + want["visits"] + 1


def test_how_much_of_my_deductible_is_left_in_french(dennis):
    _plan(dennis)
    want = expected_costs(datetime.date(2008, 1, 1), TODAY)

    text, tools, _citations = ask(dennis, "Combien me reste-t-il de franchise ?")

    assert [tool.name for tool in tools] == ["insurance_coverage"]
    assert date_fr(datetime.date(2008, 1, 1)) in text and date_fr(datetime.date(2008, 12, 31)) in text
    assert "1 500,00 $ US" in text and "0,00 $ US" in text
    assert usd_fr(want["owed"]) in text and usd_fr(5000 - want["owed"]) in text


@pytest.mark.parametrize(
    ("question", "language"),
    [("How much of my deductible is left?", "en"), ("Combien me reste-t-il de franchise ?", "fr")],
)
def test_without_a_plan_the_patient_is_told_where_to_add_one(dennis, question, language):
    text, tools, citations = ask(dennis, question, language=language)

    assert [tool.name for tool in tools] == ["insurance_coverage"] and citations == []
    assert text and "$" not in text and "€" not in text
    if language == "en":
        assert "no insurance plan" in text and "Insurance and costs page" in text


def test_another_patients_costs_never_appear(dennis, other_patient):
    text, _tools, citations = ask(other_patient, "How much did my visits cost me last year?")

    assert citations == [] and "$" not in text
