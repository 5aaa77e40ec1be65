"""Insurance and costs: FHIR Coverage, Claim and ExplanationOfBenefit in and out, the pages, the comparison.

Expected amounts are computed here from the FHIR files (Synthea's Dennis Durgan, and a hand-written plan and
claim: data/insurance/README.md), never from what the code under test returns.
"""

import datetime
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from healthspace.crypto import keyed_hash
from records import insurance
from records.fhir.exporter import fhir_export_bundle
from records.fhir.importer import fhir_import
from records.insurance import PlanTerms, Scenario, money, plans_compare, year_cost
from records.models import Claim, Coverage, Encounter, ExplanationOfBenefit, Source

DATA = Path(__file__).parent / "data"
DENNIS = DATA / "fhir" / "Dennis_Durgan_78f005f3-7b33-4a5b-84d9-28417b36dbab.json"
PLAN_AND_CLAIM = DATA / "insurance" / "plan-and-claim.json"
TODAY = datetime.date(2008, 11, 30)
NOW = datetime.datetime(2008, 11, 30, 12, 0, tzinfo=datetime.UTC)
BLUE_BUTTON = "https://bluebutton.cms.gov/resources/variables/"


# -- expectations from the files ----------------------------------------------------------------------------


def resources(path: Path) -> list[dict]:
    # Decimal, as the importer reads them: the sums below are exact.
    bundle = json.loads(path.read_text(), parse_float=Decimal)
    return [entry["resource"] for entry in bundle["entry"]]


def of_type(path: Path, kind: str) -> list[dict]:
    return [resource for resource in resources(path) if resource["resourceType"] == kind]


def _adjudicated(resource: dict, variable: str) -> Decimal | None:
    amounts = [
        Decimal(str(adjudication["amount"]["value"]))
        for item in resource.get("item", [])
        for adjudication in item.get("adjudication", [])
        if adjudication["category"]["coding"][0]["code"] == BLUE_BUTTON + variable and "amount" in adjudication
    ]
    return sum(amounts, Decimal(0)) if amounts else None


def synthea_eob(resource: dict) -> dict:
    """What one of Synthea's EOBs says, read the way a person reads it."""
    coinsurance = _adjudicated(resource, "line_coinsrnc_amt")
    deductible = _adjudicated(resource, "line_bene_ptb_ddctbl_amt")
    return {
        "date": datetime.date.fromisoformat(resource["billablePeriod"]["start"][:10]),
        "billed": Decimal(str(resource["total"][0]["amount"]["value"])),
        "allowed": _adjudicated(resource, "line_alowd_chrg_amt"),
        "paid": Decimal(str(resource["payment"]["amount"]["value"])),
        "coinsurance": coinsurance,
        "deductible": deductible,
        "owed": None if coinsurance is None else coinsurance + (deductible or 0),
        "claim": resource["claim"]["reference"].removeprefix("urn:uuid:"),
        "encounter": resource["item"][0]["encounter"][0]["reference"].removeprefix("urn:uuid:"),
    }


def _cents(text: str) -> Decimal | None:
    value = insurance.amount(text)
    return None if value is None else value.quantize(Decimal("0.01"))


def _import(owner, path: Path, filename: str = ""):
    with path.open("rb") as stream:
        return fhir_import(owner=owner, stream=stream, filename=filename or path.name)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def dennis(patient, frozen):
    report = _import(patient, DENNIS)
    assert not report.errors
    return patient


def page_text(response) -> str:
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\N{NO-BREAK SPACE}", " ")


# -- import ------------------------------------------------------------------------------------------------


def test_synthea_claims_and_explanations_of_benefit_are_imported_with_their_amounts_and_links(patient):
    report = _import(patient, DENNIS)

    claims, eobs = of_type(DENNIS, "Claim"), of_type(DENNIS, "ExplanationOfBenefit")
    assert report.added_by_kind["claim"] == len(claims) == 31
    assert report.added_by_kind["explanationofbenefit"] == len(eobs) == 25
    assert "Claim" not in report.skipped_by_type and "ExplanationOfBenefit" not in report.skipped_by_type
    encounters = {row.source_key: row for row in Encounter.objects.filter(owner=patient)}
    stored_claims = {row.source_key for row in Claim.objects.filter(owner=patient)}
    for resource in eobs:
        expected = synthea_eob(resource)
        row = ExplanationOfBenefit.objects.get(
            owner=patient, source_key=keyed_hash("fhir", "ExplanationOfBenefit", resource["id"])
        )
        assert row.source == Source.FHIR and row.currency == "USD" and row.insurer == "private"
        assert row.effective_at.date() == expected["date"]
        assert Decimal(row.billed) == expected["billed"]
        assert Decimal(row.insurer_paid) == expected["paid"]
        assert insurance.amount(row.allowed) == expected["allowed"]
        assert insurance.amount(row.coinsurance) == expected["coinsurance"]
        assert insurance.amount(row.patient_owed) == expected["owed"]
        # The visit and the claim it answers, linked whatever the order of the file.
        assert row.claim_key == keyed_hash("fhir", "Claim", expected["claim"]) and row.claim_key in stored_claims
        assert encounters[row.encounter_key].source_key == keyed_hash("fhir", "Encounter", expected["encounter"])
    for resource in eobs:
        row = ExplanationOfBenefit.objects.get(
            owner=patient, source_key=keyed_hash("fhir", "ExplanationOfBenefit", resource["id"])
        )
        assert [(line["name"], insurance.amount(line.get("coinsurance"))) for line in row.items] == [
            (item["productOrService"]["text"], _adjudicated({"item": [item]}, "line_coinsrnc_amt"))
            for item in resource["item"]
        ]


def test_amounts_are_encrypted_at_rest(patient):
    _import(patient, DENNIS)
    row = next(row for row in ExplanationOfBenefit.objects.filter(owner=patient) if row.coinsurance)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT billed, insurer_paid, coinsurance, items FROM records_explanationofbenefit WHERE id = %s", [row.pk]
        )
        raw = cursor.fetchone()
    assert all(value.startswith("gAAAAA") for value in raw)
    assert row.billed not in "".join(raw)


def test_importing_the_same_file_again_adds_nothing(patient):
    _import(patient, DENNIS)
    again = _import(patient, DENNIS)

    assert again.added == 0
    assert Claim.objects.filter(owner=patient).count() == 31
    assert ExplanationOfBenefit.objects.filter(owner=patient).count() == 25


def test_a_coverage_is_read_with_its_plan_deductible_maximum_and_co_insurance(patient):
    report = _import(patient, PLAN_AND_CLAIM)

    assert report.errors == [] and report.added_by_kind == {
        "coverage": 1,
        "encounter": 1,
        "claim": 1,
        "explanationofbenefit": 1,
    }
    plan = Coverage.objects.get(owner=patient)
    assert (plan.insurer, plan.plan_name, plan.member_number) == ("Mutuelle Exemple", "Confort 2", "MB-000123")
    assert (plan.coverage_type, plan.payer, plan.status) == ("extended healthcare", "Alex Martin", "active")
    assert plan.effective_at == datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    assert plan.ends_on == datetime.date(2024, 12, 31)
    assert (plan.deductible, plan.out_of_pocket_max, plan.coinsurance_percent, plan.currency) == (
        "300",
        "1500",
        "20",
        "EUR",
    )
    assert plan.source_key == keyed_hash("fhir", "Coverage", "cov-1")


def test_an_explanation_of_benefit_takes_the_insurers_totals_then_sums_its_lines(patient):
    _import(patient, PLAN_AND_CLAIM)
    eob = of_type(PLAN_AND_CLAIM, "ExplanationOfBenefit")[0]

    row = ExplanationOfBenefit.objects.get(owner=patient)
    totals = {total["category"]["coding"][0]["code"]: Decimal(total["amount"]["value"]) for total in eob["total"]}
    lines = [
        {a["category"]["coding"][0]["code"]: Decimal(a["amount"]["value"]) for a in item["adjudication"]}
        for item in eob["item"]
    ]
    coinsurance = sum(line.get("coinsurance", 0) for line in lines)  # no total for it: summed over the lines
    allowed = sum(line["eligible"] for line in lines)
    assert Decimal(row.billed) == totals["submitted"]
    assert Decimal(row.insurer_paid) == totals["benefit"]
    assert Decimal(row.deductible) == totals["deductible"]
    assert Decimal(row.allowed) == allowed and Decimal(row.coinsurance) == coinsurance
    assert Decimal(row.patient_owed) == totals["deductible"] + coinsurance
    assert row.insurer == "Mutuelle Exemple" and row.provider == "Cabinet de dermatologie"
    plan, claim = Coverage.objects.get(owner=patient), Claim.objects.get(owner=patient)
    encounter = Encounter.objects.get(owner=patient)
    assert (row.coverage_key, row.claim_key, row.encounter_key) == (
        plan.source_key,
        claim.source_key,
        encounter.source_key,
    )
    assert claim.coverage_key == plan.source_key and Decimal(claim.billed) == Decimal(180)


def test_links_hold_when_the_visit_arrives_in_a_later_file(patient):
    # A FHIR server searched type by type: the answer first, the visit and the claim later.
    by_type = {resource["resourceType"]: resource for resource in resources(PLAN_AND_CLAIM)}
    for kind in ("ExplanationOfBenefit", "Claim", "Encounter", "Coverage"):
        fhir_import(owner=patient, stream=io.BytesIO(json.dumps(by_type[kind], default=str).encode()))

    row = ExplanationOfBenefit.objects.get(owner=patient)
    assert row.encounter_key == Encounter.objects.get(owner=patient).source_key
    assert row.claim_key == Claim.objects.get(owner=patient).source_key
    assert row.coverage_key == Coverage.objects.get(owner=patient).source_key


def test_the_export_carries_plans_claims_and_answers_and_imports_back_the_same(patient, other_patient):
    _import(patient, DENNIS)
    _import(patient, PLAN_AND_CLAIM)
    Coverage.objects.create(
        owner=patient, insurer="Hand-entered", deductible="1000", premium_monthly="85.50", currency="USD"
    )

    exported = fhir_export_bundle(owner=patient)
    kinds = [entry["resource"]["resourceType"] for entry in exported["entry"]]
    assert (kinds.count("Coverage"), kinds.count("Claim"), kinds.count("ExplanationOfBenefit")) == (2, 32, 26)
    report = fhir_import(owner=other_patient, stream=io.BytesIO(json.dumps(exported).encode()), filename="export.json")

    assert report.rejected == 0, report.errors
    fields = ("billed", "allowed", "insurer_paid", "deductible", "copay", "coinsurance", "patient_owed", "currency")
    for model in (ExplanationOfBenefit, Claim):
        mine = {row.source_key: row for row in model.objects.filter(owner=patient)}
        theirs = {row.source_key: row for row in model.objects.filter(owner=other_patient)}
        assert set(theirs) == set(mine)
        for key, row in mine.items():
            copy = theirs[key]
            for name in fields:
                if hasattr(row, name):
                    # An export writes amounts as JSON numbers: equal to the cent.
                    assert _cents(getattr(copy, name)) == _cents(getattr(row, name)), (name, key)
            for name in ("encounter_key", "coverage_key", "claim_key", "effective_at"):
                if hasattr(row, name):
                    assert getattr(copy, name) == getattr(row, name), (name, key)
            assert [{k: _cents(v) if k in fields else v for k, v in line.items()} for line in copy.items or []] == [
                {k: _cents(v) if k in fields else v for k, v in line.items()} for line in row.items or []
            ]
    hand = next(plan for plan in Coverage.objects.filter(owner=other_patient) if plan.insurer == "Hand-entered")
    assert (Decimal(hand.deductible), Decimal(hand.premium_monthly), hand.currency) == (1000, Decimal("85.5"), "USD")
    again = fhir_import(owner=patient, stream=io.BytesIO(json.dumps(exported).encode()), filename="export.json")
    assert again.added == 1  # only the hand-entered plan had no source key to be found by


# -- what each visit cost -----------------------------------------------------------------------------------


def test_costs_per_year_are_the_sums_of_the_insurers_answers(dennis):
    expected: dict[int, dict] = {}
    for resource in of_type(DENNIS, "ExplanationOfBenefit"):
        eob = synthea_eob(resource)
        year = expected.setdefault(eob["date"].year, {"visits": 0, "billed": 0, "paid": 0, "owed": 0})
        year["visits"] += 1
        year["billed"] += eob["billed"]
        year["paid"] += eob["paid"]
        year["owed"] += eob["owed"] or 0

    years = insurance.totals_per_year(insurance.costs_for_user(user=dennis))

    assert [year.year for year in years] == sorted(expected, reverse=True)
    for year in years:
        want = expected[year.year]
        assert (year.visits, year.billed, year.insurer_paid, year.patient_owed) == (
            want["visits"],
            want["billed"],
            want["paid"],
            want["owed"],
        )
    # Claims no answer refers to (Synthea's pharmacy claims) are billed, neither paid nor owed.
    answered = {synthea_eob(resource)["claim"] for resource in of_type(DENNIS, "ExplanationOfBenefit")}
    open_claims = [claim for claim in of_type(DENNIS, "Claim") if claim["id"] not in answered]
    assert sum(year.unprocessed for year in years) == len(open_claims) == 6
    assert sum(year.unprocessed_billed for year in years) == sum(Decimal(str(c["total"]["value"])) for c in open_claims)


def test_the_costs_page_lists_each_visit_with_its_amounts_and_the_years_totals(dennis, patient_client):
    latest = synthea_eob(of_type(DENNIS, "ExplanationOfBenefit")[-1])
    year_owed = sum(
        (synthea_eob(r)["owed"] or 0)
        for r in of_type(DENNIS, "ExplanationOfBenefit")
        if r["billablePeriod"]["start"][:4] == "2008"
    )

    text = page_text(patient_client.get(reverse("records:insurance_costs")))

    assert "Inpatient stay (finding)" in text
    assert f"${latest['billed']:,.2f}" in text and f"${latest['owed'].quantize(Decimal('0.01')):,}" in text
    assert f"${year_owed.quantize(Decimal('0.01')):,}" in text
    assert "(claim not answered yet)" in text


def test_the_costs_page_reads_a_fixed_number_of_queries(dennis, patient_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert patient_client.get(reverse("records:insurance_costs")).status_code == 200
        return len(captured)

    count()  # the first request of a session writes it
    before = count()
    _import(dennis, PLAN_AND_CLAIM)
    assert count() == before


def test_the_overview_reads_a_fixed_number_of_queries_whatever_the_number_of_plans(dennis, patient_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert patient_client.get(reverse("records:insurance")).status_code == 200
        return len(captured)

    Coverage.objects.create(owner=dennis, insurer="A", deductible="100", currency="USD")
    count()  # the first request of a session writes it
    before = count()
    for index in range(3):
        Coverage.objects.create(owner=dennis, insurer=f"B{index}", out_of_pocket_max="900")
    assert count() == before


def test_costs_are_in_french_the_french_way(dennis, patient_client):
    latest = synthea_eob(of_type(DENNIS, "ExplanationOfBenefit")[-1])

    patient_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    text = page_text(patient_client.get(reverse("records:insurance_costs")))

    assert f"{latest['billed']:,.2f}".replace(",", " ").replace(".", ",") + " $ US" in text.replace(
        "\N{NARROW NO-BREAK SPACE}", " "
    )


@pytest.mark.parametrize(
    ("value", "currency", "language", "written"),
    [
        (Decimal("1234.5"), "USD", "en", "$1,234.50"),
        (Decimal("1234.5"), "EUR", "en", "€1,234.50"),
        (Decimal("1234.5"), "EUR", "fr", "1 234,50 €"),
        (Decimal("0.005"), "EUR", "fr", "0,01 €"),
        (Decimal("12"), "CHF", "en", "12.00 CHF"),
    ],
)
def test_money_is_written_the_languages_way(value, currency, language, written):
    with translation.override(language):
        shown = money(value, currency)
    assert shown.replace("\N{NO-BREAK SPACE}", " ").replace("\N{NARROW NO-BREAK SPACE}", " ") == written


def test_the_patients_currency_follows_their_country(patient, other_patient):
    assert insurance.currency_for_user(user=patient) == "EUR"  # the cast lives in France
    other_patient.profile.country = "US"
    other_patient.profile.save()
    assert insurance.currency_for_user(user=other_patient) == "USD"


# -- plans ---------------------------------------------------------------------------------------------------


def _plan_form(**changes) -> dict:
    data = {
        "insurer": "Acme Health",
        "plan_name": "Silver",
        "member_number": "XZ-42",
        "coverage_type": "health insurance",
        "payer": "",
        "status": "active",
        "effective_at": "2008-01-01",
        "ends_on": "",
        "deductible": "1500",
        "out_of_pocket_max": "5000",
        "premium_monthly": "320",
        "coinsurance_percent": "20",
        "currency": "USD",
    }
    return {**data, **changes}


def test_a_plan_entered_by_hand_shows_the_deductible_and_out_of_pocket_used_this_year(dennis, patient_client):
    response = patient_client.post(reverse("records:insurance_plan_create"), _plan_form())
    plan = Coverage.objects.get(owner=dennis)
    assert response.status_code == 302 and response.url == reverse("records:insurance_plan", args=[plan.public_id])
    assert (plan.source, plan.deductible, plan.coinsurance_percent) == (Source.MANUAL, "1500", "20")
    spent = sum(
        (synthea_eob(r)["owed"] or 0)
        for r in of_type(DENNIS, "ExplanationOfBenefit")
        if r["billablePeriod"]["start"][:4] == "2008"
    )
    met = sum(
        (synthea_eob(r)["deductible"] or 0)
        for r in of_type(DENNIS, "ExplanationOfBenefit")
        if r["billablePeriod"]["start"][:4] == "2008"
    )

    page = patient_client.get(response.url)
    text = page_text(page)

    progress = page.context["progress"]
    assert (progress.start, progress.end) == (datetime.date(2008, 1, 1), datetime.date(2008, 12, 31))
    assert progress.out_of_pocket_spent == spent and progress.deductible_met == met == 0
    assert f"${spent.quantize(Decimal('0.01')):,} of $5,000.00" in text
    assert f"${Decimal(5000) - spent:,.2f} left" in text and "$1,500.00 left" in text
    html = page.content.decode()
    assert html.count('class="chart progress-bar"') == 2 and "style=" not in html.split("<main", 1)[-1]
    width = re.findall(r'class="chart-bar" x="0" y="0" width="([\d.]+)"', html)[1]
    assert float(width) == pytest.approx(float(spent / 5000) * 480, abs=0.1)


def test_a_plan_year_starts_on_the_anniversary_of_the_cover(patient):
    plan = Coverage(owner=patient, insurer="A", effective_at=datetime.datetime(2019, 7, 1, tzinfo=datetime.UTC))
    assert insurance.plan_year(plan, datetime.date(2024, 3, 9)) == (
        datetime.date(2023, 7, 1),
        datetime.date(2024, 6, 30),
    )
    plan.ends_on = datetime.date(2024, 1, 31)
    assert insurance.plan_year(plan, datetime.date(2024, 3, 9)) == (
        datetime.date(2023, 7, 1),
        datetime.date(2024, 1, 31),
    )
    no_start = Coverage(owner=patient, insurer="B")
    assert insurance.plan_year(no_start, datetime.date(2024, 3, 9)) == (
        datetime.date(2024, 1, 1),
        datetime.date(2024, 12, 31),
    )


def test_costs_linked_to_another_plan_do_not_count_toward_this_one(patient, frozen):
    _import(patient, PLAN_AND_CLAIM)
    imported = Coverage.objects.get(owner=patient)
    other = Coverage.objects.create(
        owner=patient, insurer="Other", effective_at=imported.effective_at, deductible="100", currency="EUR"
    )

    with time_machine.travel(datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC), tick=False):
        mine = insurance.plan_progress(user=patient, plan=imported, today=datetime.date(2024, 6, 1))
        theirs = insurance.plan_progress(user=patient, plan=other, today=datetime.date(2024, 6, 1))

    assert (mine.deductible_met, mine.deductible_left, mine.out_of_pocket_spent) == (
        Decimal(30),
        Decimal(270),
        Decimal(54),
    )
    assert theirs.rows == [] and theirs.deductible_left == Decimal(100)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"deductible": "-5"}, "deductible"),
        ({"coinsurance_percent": "120"}, "coinsurance_percent"),
        ({"effective_at": "2009-01-01", "ends_on": "2008-06-30"}, "ends_on"),
        ({"insurer": ""}, "insurer"),
        ({"currency": "XXX"}, "currency"),
    ],
)
def test_a_plan_form_refuses_what_cannot_be_right(patient_client, patient, changes, field):
    response = patient_client.post(reverse("records:insurance_plan_create"), _plan_form(**changes))

    assert response.status_code == 200 and field in response.context["form"].errors
    assert not Coverage.objects.filter(owner=patient).exists()


def test_a_manual_plan_is_edited_and_deleted_an_imported_one_only_annotated(patient, patient_client):
    _import(patient, PLAN_AND_CLAIM)
    imported = Coverage.objects.get(owner=patient)
    patient_client.post(reverse("records:insurance_plan_create"), _plan_form())
    manual = Coverage.objects.get(owner=patient, source=Source.MANUAL)

    patient_client.post(reverse("records:insurance_plan_edit", args=[manual.public_id]), _plan_form(deductible="2000"))
    manual.refresh_from_db()
    assert manual.deductible == "2000"
    form = patient_client.get(reverse("records:insurance_plan_edit", args=[imported.public_id])).context["form"]
    assert set(form.fields) == {"patient_note", "disputed"}
    patient_client.post(
        reverse("records:insurance_plan_edit", args=[imported.public_id]),
        {"patient_note": "Ended in June", "disputed": ""},
    )
    imported.refresh_from_db()
    assert imported.patient_note == "Ended in June" and imported.deductible == "300"
    patient_client.post(reverse("records:insurance_plan_delete", args=[imported.public_id]))
    patient_client.post(reverse("records:insurance_plan_delete", args=[manual.public_id]))
    assert list(Coverage.objects.filter(owner=patient)) == [imported]


def test_the_overview_offers_to_add_the_insurer_named_in_claims(dennis, patient_client):
    text = page_text(patient_client.get(reverse("records:insurance")))

    assert "No plan yet." in text and "private — add this plan" in text
    form = patient_client.get(reverse("records:insurance_plan_create") + "?insurer=private").context["form"]
    assert form.initial["insurer"] == "private"


@pytest.mark.parametrize("name", ["records:insurance_plan", "records:insurance_plan_edit", "records:insurance_cost"])
def test_another_patients_plan_or_cost_is_a_404(dennis, client, other_patient, name):
    Coverage.objects.create(owner=dennis, insurer="Mine")
    target = Coverage if "plan" in name else ExplanationOfBenefit
    client.force_login(other_patient)

    response = client.get(reverse(name, args=[target.objects.filter(owner=dennis).first().public_id]))

    assert response.status_code == 404


# -- comparing plans -----------------------------------------------------------------------------------------

BRONZE = PlanTerms(
    name="Bronze",
    premium_monthly=Decimal(250),
    deductible=Decimal(6000),
    coinsurance_percent=Decimal(40),
    out_of_pocket_max=Decimal(8000),
)
GOLD = PlanTerms(
    name="Gold",
    premium_monthly=Decimal(480),
    deductible=Decimal(500),
    coinsurance_percent=Decimal(10),
    out_of_pocket_max=Decimal(3000),
)


@pytest.mark.parametrize(
    ("terms", "care", "deductible_part", "coinsurance_part", "out_of_pocket", "capped"),
    [
        (BRONZE, Decimal(0), 0, 0, 0, False),
        (BRONZE, Decimal(400), 400, 0, 400, False),  # all of it under the deductible
        (BRONZE, Decimal(7000), 6000, 400, 6400, False),  # deductible, then 40 % of the 1,000 above it
        (BRONZE, Decimal(20000), 6000, 5600, 8000, True),  # 11,600 capped at the maximum
        (GOLD, Decimal(2500), 500, 200, 700, False),
        (GOLD, Decimal(40000), 500, Decimal("3950"), 3000, True),
        (PlanTerms("No cap", Decimal(0), Decimal(100), Decimal(50)), Decimal(100100), 100, 50000, 50100, False),
    ],
)
def test_a_years_cost_is_deductible_then_co_insurance_then_the_cap_plus_twelve_premiums(
    terms, care, deductible_part, coinsurance_part, out_of_pocket, capped
):
    cost = year_cost(terms, care)

    assert (cost.deductible_part, cost.coinsurance_part) == (deductible_part, coinsurance_part)
    assert (cost.out_of_pocket, cost.capped) == (out_of_pocket, capped)
    assert cost.premiums == terms.premium_monthly * 12
    assert cost.total == terms.premium_monthly * 12 + out_of_pocket


def test_plans_keep_the_order_they_were_entered_in():
    comparison = plans_compare(
        plans=[GOLD, BRONZE], scenarios=[Scenario("low", Decimal(500)), Scenario("high", Decimal(20000))]
    )

    assert [terms.name for terms, _costs in comparison.rows] == ["Gold", "Bronze"]
    assert [[cost.total for cost in costs] for _terms, costs in comparison.rows] == [
        [Decimal(5760) + 500, Decimal(5760) + 2450],
        [Decimal(3000) + 500, Decimal(3000) + 8000],
    ]


def _compare_post(plans: list[PlanTerms], low="500", high="20000", currency="USD") -> dict:
    data = {
        "form-TOTAL_FORMS": str(len(plans) + 1),
        "form-INITIAL_FORMS": "0",
        "low_use": low,
        "high_use": high,
        "currency": currency,
    }
    for index, terms in enumerate(plans):
        data.update(
            {
                f"form-{index}-name": terms.name,
                f"form-{index}-premium_monthly": str(terms.premium_monthly),
                f"form-{index}-deductible": str(terms.deductible),
                f"form-{index}-coinsurance_percent": str(terms.coinsurance_percent),
                f"form-{index}-out_of_pocket_max": str(terms.out_of_pocket_max or ""),
            }
        )
    return data


def test_the_comparison_uses_the_patients_own_past_year_and_states_its_assumptions(dennis, patient_client):
    since = TODAY - datetime.timedelta(days=364)
    care = Decimal(0)
    for resource in of_type(DENNIS, "ExplanationOfBenefit"):
        eob = synthea_eob(resource)
        if since <= eob["date"] <= TODAY:
            care += eob["allowed"] if eob["allowed"] is not None else eob["billed"]
    answered = {synthea_eob(resource)["claim"] for resource in of_type(DENNIS, "ExplanationOfBenefit")}
    for claim in of_type(DENNIS, "Claim"):
        if claim["id"] not in answered and since <= datetime.date.fromisoformat(claim["billablePeriod"]["start"][:10]):
            care += Decimal(str(claim["total"]["value"]))
    expected = year_cost(BRONZE, care)

    response = patient_client.post(reverse("records:insurance_compare"), _compare_post([BRONZE, GOLD]))
    text = page_text(response)

    assert response.context["past"].care == care
    assert f"care: ${care.quantize(Decimal('0.01')):,}" in text
    assert f"${expected.total.quantize(Decimal('0.01')):,}" in text
    assert "$500.00" in text and "$20,000.00" in text  # the low- and high-use years, stated
    assert "the monthly premium × 12" in text


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_comparison_informs_and_never_recommends(dennis, patient_client, language):
    patient_client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    get = patient_client.get(reverse("records:insurance_compare"))
    post = patient_client.post(reverse("records:insurance_compare"), _compare_post([BRONZE, GOLD]))

    assert post.context["comparison"] is not None
    for response in (get, post):
        text = page_text(response).lower()
        for wording in (
            "recommend",
            "best plan",
            "better plan",
            "cheapest",
            "we suggest",
            "recommand",
            "meilleur",
            "conseill",
        ):
            assert wording not in text, wording


def test_one_plan_is_not_a_comparison(patient_client):
    response = patient_client.post(reverse("records:insurance_compare"), _compare_post([GOLD]))

    assert response.context["comparison"] is None
    assert "Enter at least two plans to compare." in page_text(response)


def test_the_comparison_starts_from_the_patients_own_plans(patient, patient_client):
    Coverage.objects.create(owner=patient, insurer="Acme", plan_name="Silver", deductible="1500", premium_monthly="320")

    formset = patient_client.get(reverse("records:insurance_compare")).context["formset"]

    assert formset.forms[0].initial["name"] == "Acme — Silver"
    assert formset.forms[0].initial["deductible"] == Decimal(1500)
    assert len(formset.forms) == 3
