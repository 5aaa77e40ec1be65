"""Insurance and costs: the patient's plans, what each visit cost, and plan comparisons.

Reads are owner-scoped like every selector; amounts are exact `Decimal`s computed here from the
encrypted text the records hold, never by the database. The comparison is pure arithmetic on what
the patient typed and on their own past costs: it informs and never ranks or recommends a plan.
"""

from __future__ import annotations

import calendar
import datetime
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext

from accounts.models import User

from .charts import Chart
from .models import Claim, Coverage, Encounter, ExplanationOfBenefit

CENT = Decimal("0.01")
# A year of care assumed for the comparison when the patient does not change it (stated on the page).
LOW_USE_COSTS = Decimal("500")
HIGH_USE_COSTS = Decimal("20000")
PAST_YEAR_DAYS = 365
# Currencies by the patient's country; a country not listed falls back on the language.
COUNTRY_CURRENCY = {
    "US": "USD",
    "FR": "EUR",
    "BE": "EUR",
    "LU": "EUR",
    "DE": "EUR",
    "ES": "EUR",
    "IT": "EUR",
    "NL": "EUR",
    "PT": "EUR",
    "IE": "EUR",
    "AT": "EUR",
    "FI": "EUR",
    "GR": "EUR",
    "MC": "EUR",
    "GB": "GBP",
    "CH": "CHF",
    "CA": "CAD",
}
# How a currency is written before (English) or after (French) the number; others as their code.
SYMBOLS_EN = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "JPY": "¥"}
SYMBOLS_FR = {"USD": "$\N{NO-BREAK SPACE}US", "EUR": "€", "GBP": "£", "CAD": "$\N{NO-BREAK SPACE}CA", "JPY": "¥"}
_LOOKUP_CHUNK = 500


# -- amounts ----------------------------------------------------------------------------------------------


def amount(text) -> Decimal | None:
    """A stored amount (exact decimal text) as a Decimal, or None when there is none."""
    if text in (None, ""):
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def money(value: Decimal | None, currency: str) -> str:
    """An amount in the active language's way: "$1,234.50" / "1 234,50 €"; "" for no amount."""
    if value is None:
        return ""
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    rounded = rounded.copy_abs() if rounded.is_zero() else rounded
    number = number_format(rounded, decimal_pos=2, use_l10n=True, force_grouping=True)
    if (get_language() or "en").startswith("fr"):
        return f"{number}\N{NO-BREAK SPACE}{SYMBOLS_FR.get(currency, currency)}"
    symbol = SYMBOLS_EN.get(currency)
    if symbol:
        return f"-{symbol}{number[1:]}" if number.startswith("-") else f"{symbol}{number}"
    return f"{number}\N{NO-BREAK SPACE}{currency}" if currency else number


def currency_for_user(user: User) -> str:
    """The patient's own currency: by their country, else EUR in French and USD otherwise."""
    try:
        profile = user.profile
    except ObjectDoesNotExist:
        profile = None
    country = str(profile.country or "") if profile is not None else ""
    if country in COUNTRY_CURRENCY:
        return COUNTRY_CURRENCY[country]
    language = profile.preferred_language if profile is not None else ""
    return "EUR" if language.startswith("fr") else "USD"


def _sum(values) -> Decimal:
    return sum((value for value in values if value is not None), Decimal(0))


# -- what each visit cost ---------------------------------------------------------------------------------


@dataclass
class CostRow:
    """One visit's cost: the insurer's answer (an explanation of benefit), or a claim not answered yet."""

    record: ExplanationOfBenefit | Claim
    encounter: Encounter | None
    currency: str
    billed: Decimal | None
    insurer_paid: Decimal | None = None
    patient_owed: Decimal | None = None
    deductible: Decimal | None = None
    copay: Decimal | None = None
    coinsurance: Decimal | None = None

    @property
    def processed(self) -> bool:
        """Whether the insurer answered (an explanation of benefit), so that paid and owed are known."""
        return isinstance(self.record, ExplanationOfBenefit)

    @property
    def date(self) -> datetime.date | None:
        return self.record.effective_at.date() if self.record.effective_at else None

    @property
    def name(self) -> str:
        """The visit it was for, else the care billed."""
        return (self.encounter.name if self.encounter else "") or str(self.record)


def _encounters_by_key(user: User, keys: set[str]) -> dict[str, Encounter]:
    found: dict[str, Encounter] = {}
    ordered = sorted(key for key in keys if key)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        chunk = ordered[start : start + _LOOKUP_CHUNK]
        for encounter in Encounter.objects.filter(owner=user, source_key__in=chunk):
            found[encounter.source_key] = encounter
    return found


def _dated(queryset, start: datetime.date | None, end: datetime.date | None):
    if start is not None:
        queryset = queryset.filter(effective_at__gte=_midnight(start))
    if end is not None:
        queryset = queryset.filter(effective_at__lt=_midnight(end + datetime.timedelta(days=1)))
    return queryset


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)


def costs_for_user(
    *, user: User, start: datetime.date | None = None, end: datetime.date | None = None
) -> list[CostRow]:
    """The owner's visit costs between two dates (inclusive), newest first: every explanation of benefit,
    and every claim that none answers (three queries, whatever the number of visits)."""
    default = currency_for_user(user)
    benefits = list(_dated(ExplanationOfBenefit.objects.filter(owner=user), start, end))
    answered = {row.claim_key for row in benefits if row.claim_key}
    # A claim is matched to its answer on the whole record, not only this period's answers.
    answered |= set(
        ExplanationOfBenefit.objects.filter(owner=user).exclude(claim_key="").values_list("claim_key", flat=True)
    )
    claims = [row for row in _dated(Claim.objects.filter(owner=user), start, end) if row.source_key not in answered]
    encounters = _encounters_by_key(user, {row.encounter_key for row in [*benefits, *claims]})
    rows = [
        CostRow(
            record=row,
            encounter=encounters.get(row.encounter_key),
            currency=row.currency or default,
            billed=amount(row.billed),
            insurer_paid=amount(row.insurer_paid),
            patient_owed=amount(row.patient_owed),
            deductible=amount(row.deductible),
            copay=amount(row.copay),
            coinsurance=amount(row.coinsurance),
        )
        for row in benefits
    ]
    rows += [
        CostRow(
            record=row,
            encounter=encounters.get(row.encounter_key),
            currency=row.currency or default,
            billed=amount(row.billed),
        )
        for row in claims
    ]
    epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    rows.sort(key=lambda row: (row.record.effective_at or epoch, row.processed, row.record.pk), reverse=True)
    return rows


def cost_get_for_user(*, user: User, public_id) -> CostRow:
    """One of the owner's explanations of benefit or claims as a cost row, or 404 (also for someone else's)."""
    for model in (ExplanationOfBenefit, Claim):
        record = model.objects.filter(owner=user, public_id=public_id).first()
        if record is not None:
            encounter = _encounters_by_key(user, {record.encounter_key}).get(record.encounter_key)
            fields = ("insurer_paid", "patient_owed", "deductible", "copay", "coinsurance")
            extra = (
                {name: amount(getattr(record, name, "")) for name in fields} if model is ExplanationOfBenefit else {}
            )
            return CostRow(
                record=record,
                encounter=encounter,
                currency=record.currency or currency_for_user(user),
                billed=amount(record.billed),
                **extra,
            )
    raise Http404("No such cost")


@dataclass
class Totals:
    """What a set of visits cost, in one currency."""

    currency: str
    year: int | None = None
    visits: int = 0
    billed: Decimal = Decimal(0)
    insurer_paid: Decimal = Decimal(0)
    patient_owed: Decimal = Decimal(0)
    deductible: Decimal = Decimal(0)
    copay: Decimal = Decimal(0)
    coinsurance: Decimal = Decimal(0)
    # Claims the insurer has not answered: billed, but neither paid nor owed is known.
    unprocessed: int = 0
    unprocessed_billed: Decimal = Decimal(0)
    rows: list[CostRow] = field(default_factory=list, repr=False)

    def add(self, row: CostRow) -> None:
        self.rows.append(row)
        if not row.processed:
            self.unprocessed += 1
            self.unprocessed_billed += row.billed or 0
            return
        self.visits += 1
        self.billed += row.billed or 0
        self.insurer_paid += row.insurer_paid or 0
        self.patient_owed += row.patient_owed or 0
        self.deductible += row.deductible or 0
        self.copay += row.copay or 0
        self.coinsurance += row.coinsurance or 0


def totals(rows: list[CostRow]) -> list[Totals]:
    """The rows' totals, one per currency (most rows first)."""
    by_currency: dict[str, Totals] = {}
    for row in rows:
        by_currency.setdefault(row.currency, Totals(currency=row.currency)).add(row)
    return sorted(by_currency.values(), key=lambda total: -len(total.rows))


def totals_per_year(rows: list[CostRow]) -> list[Totals]:
    """The rows' totals per calendar year and currency, newest year first."""
    grouped: dict[tuple[int, str], Totals] = {}
    for row in rows:
        if row.date is None:
            continue
        key = (row.date.year, row.currency)
        grouped.setdefault(key, Totals(currency=row.currency, year=row.date.year)).add(row)
    return [grouped[key] for key in sorted(grouped, key=lambda key: (-key[0], key[1]))]


# -- plans ------------------------------------------------------------------------------------------------


def plans_for_user(*, user: User) -> list[Coverage]:
    """The owner's insurance plans, imported and entered, the newest cover first."""
    return list(Coverage.objects.filter(owner=user).order_by("-effective_at", "-id"))


def plan_get_for_user(*, user: User, public_id) -> Coverage:
    """One of the owner's plans, or 404 (also for someone else's)."""
    try:
        return Coverage.objects.get(owner=user, public_id=public_id)
    except Coverage.DoesNotExist:
        raise Http404("No such plan") from None


def _anniversary(day: datetime.date, year: int) -> datetime.date:
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def plan_year(plan: Coverage, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The twelve months of the plan that hold today (or its last day, for a plan that ended): from the
    anniversary of its start (1 January without a start), cut at its end."""
    reference = min(today, plan.ends_on) if plan.ends_on else today
    anchor = plan.effective_at.date() if plan.effective_at else datetime.date(reference.year, 1, 1)
    if anchor > reference:
        start = anchor
    else:
        start = _anniversary(anchor, reference.year)
        if start > reference:
            start = _anniversary(anchor, reference.year - 1)
    end = _anniversary(start, start.year + 1) - datetime.timedelta(days=1)
    if plan.ends_on and plan.ends_on < end:
        end = plan.ends_on
    return start, end


@dataclass
class PlanProgress:
    """Where the patient stands in a plan year: deductible met and out-of-pocket spent, from the insurer's
    answers (explanations of benefit) dated in that year."""

    plan: Coverage
    start: datetime.date
    end: datetime.date
    currency: str
    deductible: Decimal | None
    deductible_met: Decimal
    out_of_pocket_max: Decimal | None
    out_of_pocket_spent: Decimal
    rows: list[CostRow]
    # Visits of the year in another currency than the plan's: not counted.
    other_currency: int = 0

    @property
    def deductible_left(self) -> Decimal | None:
        return None if self.deductible is None else max(self.deductible - self.deductible_met, Decimal(0))

    @property
    def out_of_pocket_left(self) -> Decimal | None:
        if self.out_of_pocket_max is None:
            return None
        return max(self.out_of_pocket_max - self.out_of_pocket_spent, Decimal(0))


def plan_progress(
    *,
    user: User,
    plan: Coverage,
    today: datetime.date,
    plan_keys: set[str] | None = None,
    rows: list[CostRow] | None = None,
) -> PlanProgress:
    """The plan's current year: the visits it counts (those dated in it that are not linked to another of the
    owner's plans), the deductible met (what the insurer applied to it) and the out-of-pocket spent. `rows`:
    the owner's costs already read (any dates), to read them once for several plans."""
    start, end = plan_year(plan, today)
    if plan_keys is None:
        plan_keys = set(Coverage.objects.filter(owner=user).exclude(source_key="").values_list("source_key", flat=True))
    if rows is None:
        rows = costs_for_user(user=user, start=start, end=end)
    others = plan_keys - {plan.source_key}
    currency = plan.currency or currency_for_user(user)
    counted, other_currency = [], 0
    for row in rows:
        if row.date is None or not start <= row.date <= end:
            continue
        if not row.processed or (row.record.coverage_key and row.record.coverage_key in others):
            continue
        if row.currency != currency:
            other_currency += 1
            continue
        counted.append(row)
    deductible = amount(plan.deductible)
    met = _sum(row.deductible for row in counted)
    return PlanProgress(
        plan=plan,
        start=start,
        end=end,
        currency=currency,
        deductible=deductible,
        deductible_met=min(met, deductible) if deductible is not None else met,
        out_of_pocket_max=amount(plan.out_of_pocket_max),
        out_of_pocket_spent=_sum(row.patient_owed for row in counted),
        rows=counted,
        other_currency=other_currency,
    )


def plans_progress_for_user(*, user: User, today: datetime.date) -> list[PlanProgress]:
    """Every plan of the owner with its current year's progress (the costs are read once for all plans)."""
    plans = plans_for_user(user=user)
    if not plans:
        return []
    keys = {plan.source_key for plan in plans if plan.source_key}
    years = [plan_year(plan, today) for plan in plans]
    rows = costs_for_user(user=user, start=min(start for start, _end in years), end=max(end for _start, end in years))
    return [plan_progress(user=user, plan=plan, today=today, plan_keys=keys, rows=rows) for plan in plans]


# -- comparing plans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanTerms:
    """What the patient typed about a plan; amounts per year except the premium (per month)."""

    name: str
    premium_monthly: Decimal
    deductible: Decimal
    coinsurance_percent: Decimal
    out_of_pocket_max: Decimal | None = None


@dataclass(frozen=True)
class YearCost:
    """A plan's cost for one year of care: premiums, then the patient's share of the care."""

    care: Decimal
    premiums: Decimal
    deductible_part: Decimal
    coinsurance_part: Decimal
    out_of_pocket: Decimal
    capped: bool

    @property
    def total(self) -> Decimal:
        return self.premiums + self.out_of_pocket


def year_cost(terms: PlanTerms, care: Decimal) -> YearCost:
    """The year's cost of `care` under a plan: the deductible first, then co-insurance on the rest, the
    patient's share capped at the out-of-pocket maximum, plus twelve monthly premiums."""
    care = max(care, Decimal(0))
    deductible_part = min(care, terms.deductible)
    coinsurance_part = (care - deductible_part) * terms.coinsurance_percent / 100
    out_of_pocket = deductible_part + coinsurance_part
    capped = terms.out_of_pocket_max is not None and out_of_pocket > terms.out_of_pocket_max
    if capped:
        out_of_pocket = terms.out_of_pocket_max
    return YearCost(
        care=care,
        premiums=terms.premium_monthly * 12,
        deductible_part=deductible_part,
        coinsurance_part=coinsurance_part,
        out_of_pocket=out_of_pocket,
        capped=capped,
    )


@dataclass(frozen=True)
class Scenario:
    key: str
    care: Decimal


@dataclass
class Comparison:
    """Each plan's cost under each scenario, in the order the plans were entered (never ranked)."""

    scenarios: list[Scenario]
    plans: list[PlanTerms]
    costs: list[list[YearCost]]

    @property
    def rows(self) -> list[tuple[PlanTerms, list[YearCost]]]:
        return list(zip(self.plans, self.costs, strict=True))


def plans_compare(*, plans: list[PlanTerms], scenarios: list[Scenario]) -> Comparison:
    """Every plan's year cost under every scenario; pure arithmetic."""
    return Comparison(
        scenarios=scenarios,
        plans=plans,
        costs=[[year_cost(terms, scenario.care) for scenario in scenarios] for terms in plans],
    )


@dataclass
class PastYear:
    """The care of the patient's own past year, as the comparison uses it."""

    start: datetime.date
    end: datetime.date
    currency: str
    care: Decimal
    visits: int
    # Visits in another currency, left out of `care`.
    other_currency: int = 0


def past_year_care_for_user(*, user: User, today: datetime.date, currency: str = "") -> PastYear:
    """What the owner's care cost over the last 365 days, before insurance: per visit, the amount the
    insurer allowed when it says so, else what was billed (claims not answered yet included). In `currency`,
    or else in the one most of those visits are in (the patient's own without any)."""
    start = today - datetime.timedelta(days=PAST_YEAR_DAYS - 1)
    rows = costs_for_user(user=user, start=start, end=today)
    counts: dict[str, list[CostRow]] = defaultdict(list)
    for row in rows:
        counts[row.currency].append(row)
    if not currency:
        currency = max(counts, key=lambda key: len(counts[key])) if counts else currency_for_user(user)
    mine = counts.get(currency, [])
    care = _sum((amount(getattr(row.record, "allowed", "")) or row.billed) for row in mine)
    return PastYear(
        start=start, end=today, currency=currency, care=care, visits=len(mine), other_currency=len(rows) - len(mine)
    )


# -- the progress bar -------------------------------------------------------------------------------------

BAR_WIDTH = 480
BAR_HEIGHT = 22


def progress_bar(*, title: str, spent: Decimal, limit: Decimal, currency: str) -> Chart:
    """A horizontal bar of `spent` against `limit`, drawn server-side (no script, no style attribute)."""
    share = Decimal(1) if limit <= 0 else min(max(spent / limit, Decimal(0)), Decimal(1))
    percent = int((share * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    summary = gettext("%(spent)s of %(limit)s (%(percent)d%%)") % {
        "spent": money(spent, currency),
        "limit": money(limit, currency),
        "percent": percent,
    }
    uid = uuid.uuid4().hex[:8]
    filled = float(share) * BAR_WIDTH
    svg = "".join(
        [
            f'<svg class="chart progress-bar" viewBox="0 0 {BAR_WIDTH} {BAR_HEIGHT}" width="{BAR_WIDTH}" '
            f'height="{BAR_HEIGHT}" role="img" aria-labelledby="bar-{uid}-title bar-{uid}-desc">',
            f'<title id="bar-{uid}-title">{escape(title)}</title>',
            f'<desc id="bar-{uid}-desc">{escape(summary)}</desc>',
            f'<rect class="chart-band" x="0" y="0" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" fill="#e7f1ed"/>',
            f'<rect class="chart-bar" x="0" y="0" width="{filled:.1f}" height="{BAR_HEIGHT}" fill="#0b6e4f"/>',
            f'<rect class="chart-frame" x="0.5" y="0.5" width="{BAR_WIDTH - 1}" height="{BAR_HEIGHT - 1}" '
            'fill="none" stroke="#d9dee5"/>',
            "</svg>",
        ]
    )
    return Chart(svg=mark_safe(svg), summary=summary)  # noqa: S308 - every text above is escaped
