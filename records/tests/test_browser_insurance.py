"""The insurance pages in a real Chromium: a Synthea patient adds their plan, reads what the year cost them
against it, opens a visit's explanation of benefit, and compares two plans."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import Page, expect

from records.models import Coverage
from records.tests.browser import csp_watch, signed_in
from records.tests.test_insurance import DENNIS, _import, of_type, synthea_eob

pytestmark = pytest.mark.browser


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


def _usd(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def test_add_a_plan_follow_the_years_costs_and_compare_plans(page: Page, live_server, patient):
    _import(patient, DENNIS)
    owed_2008 = sum(
        (synthea_eob(resource)["owed"] or 0)
        for resource in of_type(DENNIS, "ExplanationOfBenefit")
        if synthea_eob(resource)["date"].year == 2008
    )
    signed_in(page.context, live_server, patient)
    blocked = csp_watch(page)

    # The overview: a year's totals, and the insurer named in the claims, offered as a plan to add.
    page.goto(f"{live_server.url}/records/")
    page.get_by_role("link", name="Insurance and costs").click()
    expect(page.get_by_role("heading", name="Insurance and costs", level=1)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="2008").first).to_contain_text(_usd(owed_2008))
    page.get_by_role("link", name="add this plan").click()

    # The plan, as the card and contract say.
    expect(page.get_by_label("Insurer")).to_have_value("private")
    page.get_by_label("Plan", exact=True).fill("Gold PPO")
    page.get_by_label("Valid from").fill("2008-01-01")
    page.get_by_label("Valid until").fill("2008-12-31")
    page.get_by_label("Deductible per year").fill("1500")
    page.get_by_label("Out-of-pocket maximum per year").fill("5000")
    page.get_by_label("Premium per month").fill("420")
    page.get_by_label("Co-insurance (%)").fill("20")
    page.get_by_label("Currency").select_option("USD")
    page.get_by_role("button", name="Save").click()

    # Its year: the out-of-pocket bar and what is left, then one visit's explanation of benefit.
    expect(page.get_by_role("heading", name="private — Gold PPO", level=1)).to_be_visible()
    expect(page.get_by_text(f"{_usd(owed_2008)} of $5,000.00").first).to_be_visible()
    expect(page.get_by_text(f"{_usd(Decimal(5000) - owed_2008)} left")).to_be_visible()
    expect(page.locator("svg.progress-bar")).to_have_count(2)
    page.get_by_role("link", name="Inpatient stay (finding)").click()
    expect(page.get_by_role("heading", name="Inpatient stay (finding)")).to_be_visible()
    expect(page.get_by_role("cell", name="Plain chest X-ray")).to_be_visible()

    # Compare the plan with another one: the table, and no word of advice.
    page.goto(f"{live_server.url}/insurance/")
    page.get_by_role("link", name="Compare plans").click()
    expect(page.get_by_label("Plan (plan 1)")).to_have_value("private — Gold PPO")
    page.get_by_label("Plan (plan 2)").fill("Bronze")
    page.get_by_label("Premium per month (plan 2)").fill("250")
    page.get_by_label("Deductible per year (plan 2)").fill("6000")
    page.get_by_label("Co-insurance (%) (plan 2)").fill("40")
    page.get_by_label("Out-of-pocket maximum per year (plan 2)").fill("8000")
    page.get_by_role("button", name="Compute").click()
    table = page.locator("table.comparison")
    expect(table.get_by_role("row").filter(has_text="Bronze")).to_contain_text("$3,000.00")  # 250 × 12
    # A high-use year of $20,000 under Bronze: the $8,000 maximum is reached.
    expect(table.get_by_role("row").filter(has_text="Bronze")).to_contain_text("$11,000.00")
    expect(table.get_by_role("row").filter(has_text="Gold PPO")).to_contain_text("$5,040.00")  # 420 × 12
    assert "recommend" not in page.content().lower()
    assert Coverage.objects.filter(owner=patient).count() == 1
    assert blocked == []
