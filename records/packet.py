"""The visit packet: built from the owner's records, merged with the patient's edits, shown in any language.

The packet (encrypted JSON on `VisitPreparation.packet`)::

    {"version": 1, "revision": n, "built_at": iso, "sections": {section: [item, ...]}}
    item = {"key": stable id (a rebuild keeps the patient's edits of the same item),
            "kind": what the facts are, "data": the facts (names, numbers, ISO dates; no language),
            "include": shown or not, "text": the patient's wording of the line or None,
            "note": the patient's wording of the note or None}

Lines are written from `data` in the active language when shown, so one packet prints in English
or in French; a line the patient reworded is shown as they wrote it. Medications are reconciled
across sources here too (`medications_reconcile`).
"""

import copy
import datetime
import re
import uuid
from dataclasses import dataclass, field

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import User

from . import selectors
from .charts import Chart, line_chart
from .fhir.mapping import DIASTOLIC, SYSTOLIC
from .models import Immunization, Medication, Source, Symptom, VisitPreparation, VitalSign
from .symptoms import duration_text
from .timeseries import METRICS, metrics_for_user, series_rollup
from .trends import format_amount, format_number, trend_direction, value_decimals

PACKET_VERSION = 1
SYMPTOM_DAYS = 90
RECENT_LAB_DAYS = 365
RECURRING_SYMPTOM_DAYS = 30
RECURRING_SYMPTOM_COUNT = 3
MAX_CONCERNS = 3
MAX_ITEMS = 15
MAX_SUGGESTED_QUESTIONS = 6
MAX_CHARTS = 4
CHART_METRIC_DAYS = 90
# Vital signs worth a chart before a visit, by LOINC code in order of preference (height is not).
CHART_VITAL_LOINCS = (
    "85354-9",  # blood pressure panel
    "55284-4",  # blood pressure
    "8480-6",  # systolic blood pressure
    "29463-7",  # body weight
    "8867-4",  # heart rate
    "39156-5",  # body mass index
    "2339-0",  # glucose
    "59408-5",  # oxygen saturation
    "8310-5",  # body temperature
)
# Vital-sign metrics of the time-series store worth a chart before a visit, in order of preference.
CHART_METRICS = (
    "blood_pressure_systolic",
    "resting_heart_rate",
    "weight",
    "blood_glucose",
    "oxygen_saturation",
    "body_temperature",
)

SECTIONS = (
    ("concerns", gettext_lazy("Top concerns")),
    ("symptoms", gettext_lazy("Symptom timeline")),
    ("medications", gettext_lazy("Current medications")),
    ("allergies", gettext_lazy("Allergies")),
    ("conditions", gettext_lazy("Active conditions")),
    ("labs", gettext_lazy("Recent and out-of-range lab results")),
    ("vitals", gettext_lazy("Latest vital signs")),
    ("immunisations", gettext_lazy("Immunisations")),
    ("charts", gettext_lazy("Charts")),
    ("questions", gettext_lazy("Questions to ask")),
)
SECTION_NAMES = tuple(name for name, _label in SECTIONS)
# Sections whose items carry a second, editable line (a conflict, a trend, the patient's journal note).
NOTE_SECTIONS = frozenset({"symptoms", "medications", "allergies", "conditions", "labs", "vitals", "immunisations"})
# Sections the patient can add lines of their own to.
ADD_SECTIONS = frozenset(SECTION_NAMES) - {"charts"}


# -- medication reconciliation --------------------------------------------------------------------

RXNORM_SYSTEMS = frozenset({"http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"})
_STRENGTH = re.compile(
    r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s*(mg|mcg|µg|ug|g|ml|l|meq|unt|units?|iu|ui|%)"
    r"(?:\s*/\s*(ml|l|hr|h|actuat|dose|g))?(?!\w)",
    re.IGNORECASE,
)
_FORM_WORDS = frozenset(
    """oral tablet tablets tab tabs capsule capsules cap caps extended release delayed film coated chewable
    disintegrating solution suspension syrup injection injectable prefilled syringe auto injector autoinjector pen
    inhaler inhalation metered dose actuat powder spray nasal topical cream ointment gel patch transdermal drops
    ophthalmic otic vaginal rectal suppository hr er xr sr xl cr dr ec comprimé comprimés gélule gélules sachet
    pelliculé sécable buvable""".split()  # noqa: SIM905 - a word list reads better as prose
)
_SALT_WORDS = frozenset(
    """hydrochloride hcl chlorhydrate besylate bésilate maleate maléate mesylate succinate tartrate fumarate sulfate
    sulphate citrate acetate phosphate sodium sodique potassium potassique calcium calcique magnesium hyclate
    monohydrate dihydrate trihydrate""".split()  # noqa: SIM905
)
_APPLICATION_NUMBER = re.compile(r"^(?:a?nda|bla)\d+$")


def medication_name_key(name: str) -> str:
    """A drug's name without dose, form or salt ("24 HR Metformin hydrochloride 500 MG ..." -> "metformin")."""
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", name.lower())
    text = _STRENGTH.sub(" ", text)
    tokens = [
        token
        for token in re.split(r"[^\w]+", text)
        if token and not token.isdigit() and not _APPLICATION_NUMBER.match(token) and token not in _FORM_WORDS
    ]
    named = [token for token in tokens if token not in _SALT_WORDS]
    return " ".join(named or tokens) or " ".join(name.lower().split())


def _strengths(text: str) -> frozenset[str]:
    found = set()
    for number, unit, per in _STRENGTH.findall(text or ""):
        amount = format(float(number.replace(",", ".")), "g")
        found.add(f"{amount} {unit.lower()}" + (f"/{per.lower()}" if per else ""))
    return frozenset(found)


def _dosage_key(text: str) -> str:
    return " ".join(re.sub(r"[^\w/%.,]+", " ", (text or "").lower()).split())


def _source_of(medication: Medication) -> tuple[str, str]:
    return medication.source, medication.source_label


def _source_text(source: tuple[str, str]) -> str:
    label = str(Source(source[0]).label) if source[0] in Source.values else source[0]
    return f"{label} ({source[1]})" if source[1] else label


@dataclass
class ReconciledMedication:
    """One drug as all of the patient's sources describe it."""

    key: str
    records: list[Medication]
    latest_by_source: dict[tuple[str, str], Medication] = field(default_factory=dict)
    conflicts: list[dict] = field(default_factory=list)

    @property
    def is_current(self) -> bool:
        return any(selectors.medication_is_current(record) for record in self.latest_by_source.values())

    @property
    def shown(self) -> Medication:
        """The record whose name and dose represent the drug: the newest current one, else the newest."""
        latest = sorted(self.latest_by_source.values(), key=_newest_first)
        return next((record for record in latest if selectors.medication_is_current(record)), latest[0])

    @property
    def code(self) -> tuple[str, str]:
        for record in sorted(self.records, key=_newest_first):
            if record.code:
                return record.code, record.code_system
        return "", ""


def _newest_first(record) -> tuple:
    moment = record.effective_at or datetime.datetime.min.replace(tzinfo=datetime.UTC)
    return (-moment.timestamp(), -(record.pk or 0))


def _conflicts(latest_by_source: dict[tuple[str, str], Medication]) -> list[dict]:
    """Where the sources disagree: current in one and stopped in another, or different doses."""
    if len(latest_by_source) < 2:
        return []
    conflicts = []
    active = [source for source, record in latest_by_source.items() if selectors.medication_is_current(record)]
    stopped = [source for source, record in latest_by_source.items() if not selectors.medication_is_current(record)]
    if active and stopped:
        conflicts.append(
            {
                "kind": "status",
                "active": [_source_text(source) for source in active],
                "stopped": [_source_text(source) for source in stopped],
            }
        )
    current = [latest_by_source[source] for source in active]
    strengths = {frozenset(_strengths(record.name) | _strengths(record.dosage)) for record in current}
    strengths.discard(frozenset())
    dosages = {_dosage_key(record.dosage) for record in current} - {""}
    if len(strengths) > 1 or len(dosages) > 1:
        values = []
        for record in sorted(current, key=_newest_first):
            value = record.dosage or ", ".join(sorted(_strengths(record.name)))
            if value and value not in values:
                values.append(value)
        conflicts.append({"kind": "dose", "values": values})
    return conflicts


def medications_reconcile(medications: list[Medication]) -> list[ReconciledMedication]:
    """Group one owner's medication records by drug (RxNorm code, else the name without dose) across sources.

    Records of the same drug merge into one entry. Within a source the newest record is that
    source's current word; sources that disagree (current here, stopped there; another dose)
    are listed as conflicts for the patient to raise with their doctor. Pure: reads no database.
    """
    parent = list(range(len(medications)))

    def find(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_with: dict[str, int] = {}
    for index, record in enumerate(medications):
        keys = [f"name:{medication_name_key(record.name)}"]
        if record.code and record.code_system in RXNORM_SYSTEMS:
            keys.append(f"rxnorm:{record.code}")
        for key in keys:
            if key in first_with:
                parent[find(index)] = find(first_with[key])
            else:
                first_with[key] = index
    groups: dict[int, list[Medication]] = {}
    for index, record in enumerate(medications):
        groups.setdefault(find(index), []).append(record)
    reconciled = []
    for records in groups.values():
        latest: dict[tuple[str, str], Medication] = {}
        for record in sorted(records, key=_newest_first):
            latest.setdefault(_source_of(record), record)
        key = min(f"name:{medication_name_key(record.name)}" for record in records)
        reconciled.append(
            ReconciledMedication(key=key, records=records, latest_by_source=latest, conflicts=_conflicts(latest))
        )
    return sorted(reconciled, key=lambda group: group.shown.name.lower())


# -- building the packet --------------------------------------------------------------------------


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def new_item(key: str, kind: str, data: dict, *, include: bool = True) -> dict:
    """A packet item with no edit of the patient's yet."""
    return {"key": key, "kind": kind, "data": data, "include": include, "text": None, "note": None}


def _symptom_items(symptoms: list[Symptom]) -> list[dict]:
    return [
        new_item(
            f"symptom:{symptom.public_id}",
            "symptom",
            {
                "what": symptom.what,
                "severity": symptom.severity,
                "onset": _iso(symptom.effective_at),
                "duration_minutes": symptom.duration_minutes,
                "note": symptom.patient_note,
            },
        )
        for symptom in symptoms[:MAX_ITEMS]
    ]


def _recurring(symptoms: list[Symptom]) -> list[dict]:
    """Symptoms by name: how often, since when, how severe at most; the most frequent first."""
    by_name: dict[str, dict] = {}
    for symptom in symptoms:
        entry = by_name.setdefault(
            symptom.what.strip().lower(),
            {"what": symptom.what.strip(), "count": 0, "max_severity": None, "since": None, "recent": 0},
        )
        entry["count"] += 1
        if symptom.severity is not None:
            entry["max_severity"] = max(entry["max_severity"] or 0, symptom.severity)
        # Newest first: the last one seen is the first entry of that symptom.
        entry["since"] = symptom.effective_at.date().isoformat()
        if symptom.effective_at >= timezone.now() - datetime.timedelta(days=RECURRING_SYMPTOM_DAYS):
            entry["recent"] += 1
    return sorted(by_name.values(), key=lambda entry: (-entry["count"], -(entry["max_severity"] or 0)))


def _concern_items(reason: str, recurring: list[dict]) -> list[dict]:
    items = []
    if reason.strip():
        items.append(new_item("concern:reason", "reason", {"text": reason.strip()}))
    for entry in recurring[: MAX_CONCERNS - len(items)]:
        data = {key: entry[key] for key in ("what", "count", "max_severity", "since")}
        items.append(new_item(f"concern:symptom:{entry['what'].lower()}", "symptom", data))
    return items


def _medication_items(groups: list[ReconciledMedication]) -> list[dict]:
    items = []
    for group in groups:
        if not group.is_current:
            continue
        shown = group.shown
        code, system = group.code
        data = {
            "name": shown.name,
            "dosage": shown.dosage,
            "code": code,
            "system": system,
            "status": "active",
            "started": _iso(shown.effective_at),
            "sources": [_source_text(source) for source in group.latest_by_source],
            "records": len(group.records),
            "conflicts": group.conflicts,
        }
        items.append(new_item(f"medication:{group.key}", "medication", data))
    return items[: MAX_ITEMS * 2]


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _lab_data(test, point) -> dict:
    record = point.record
    numeric = [p for p in test.points if p.value is not None and p.record.effective_at]
    return {
        "name": test.name,
        "loinc": test.loinc_code,
        "value": point.value,
        "value_text": record.value_text,
        "unit": test.unit,
        "date": _iso(record.effective_at),
        "flag": point.flag,
        "low": point.low,
        "high": point.high,
        "trend": trend_direction([(p.record.effective_at.date(), p.value) for p in numeric]),
        "history": [[p.record.effective_at.date().isoformat(), p.value] for p in numeric[-4:]],
    }


def _lab_items(tests) -> list[dict]:
    # "Recent" is the year before the newest result: an old record still shows its latest picture.
    dates = [test.latest.record.effective_at for test in tests if test.latest and test.latest.record.effective_at]
    if not dates:
        return []
    recent_since = max(dates) - datetime.timedelta(days=RECENT_LAB_DAYS)
    chosen = []
    for test in tests:
        latest = test.latest
        if latest is None or latest.record.effective_at is None:
            continue
        if latest.flag or latest.record.effective_at >= recent_since:
            chosen.append((test, latest))
    chosen.sort(key=lambda pair: pair[1].record.effective_at, reverse=True)
    chosen.sort(key=lambda pair: not pair[1].flag)
    return [new_item(f"lab:{test.test_key}", "lab", _lab_data(test, latest)) for test, latest in chosen[:MAX_ITEMS]]


def _vital_items(tests) -> list[dict]:
    latest = [(test, test.latest) for test in tests if test.latest and test.latest.record.effective_at]
    latest.sort(key=lambda pair: pair[1].record.effective_at, reverse=True)
    items = []
    for test, point in latest[:MAX_ITEMS]:
        components = sorted(
            (
                {
                    "name": item.get("name", ""),
                    "loinc": item.get("loinc_code", ""),
                    "value": _number(item.get("value")),
                    "unit": item.get("unit", ""),
                }
                for item in point.record.components or []
            ),
            # Systolic before diastolic, as blood pressure is written.
            key=lambda component: (component["loinc"] != SYSTOLIC, component["loinc"] != DIASTOLIC),
        )
        data = {
            "name": test.name,
            "loinc": test.loinc_code,
            "value": point.value,
            "value_text": point.record.value_text,
            "unit": test.unit,
            "date": _iso(point.record.effective_at),
            "components": components,
        }
        items.append(new_item(f"vital:{test.test_key}", "vital", data))
    return items


def _test_chart(test, *, kind: str, days: int = 2 * 365) -> dict | None:
    numeric = [p for p in test.points if p.value is not None and p.record.effective_at]
    if len(numeric) < 2:
        return None
    since = numeric[-1].record.effective_at - datetime.timedelta(days=days)
    points = [[p.record.effective_at.date().isoformat(), p.value] for p in numeric if p.record.effective_at >= since]
    if len(points) < 2:
        return None
    return new_item(
        f"chart:{kind}:{test.test_key}",
        "test_chart",
        {
            "title": test.name,
            "unit": test.unit,
            "low": test.reference_low,
            "high": test.reference_high,
            "points": points,
        },
    )


def _metric_chart(user: User, key: str, today: datetime.date) -> dict | None:
    metric = METRICS[key]
    start = today - datetime.timedelta(days=CHART_METRIC_DAYS - 1)
    points = []
    for day, summary in series_rollup(owner=user, metric=key, start=start, end=today):
        if metric.kind == "mean" and summary.get("mean") is not None:
            points.append([day.isoformat(), summary["min"], summary["mean"], summary["max"]])
        elif summary.get("last") is not None:
            points.append([day.isoformat(), summary["last"]])
    if len(points) < 2:
        return None
    # Each end of the period is pinned, so the chart shows the whole period.
    return new_item(
        f"chart:metric:{key}",
        "metric_chart",
        {"metric": key, "unit": metric.unit, "start": start.isoformat(), "end": today.isoformat(), "points": points},
    )


def _chart_items(user: User, lab_tests, vital_tests, today: datetime.date) -> list[dict]:
    charts = []
    flagged = [test for test in lab_tests if test.latest and test.latest.flag]
    preferred = sorted(
        (test for test in vital_tests if test.loinc_code in CHART_VITAL_LOINCS and test.latest.record.effective_at),
        key=lambda test: (CHART_VITAL_LOINCS.index(test.loinc_code), -test.latest.record.effective_at.timestamp()),
    )
    for test in preferred:
        if (chart := _test_chart(test, kind="vital")) is not None:
            charts.append(chart)
        if len(charts) == 2:
            break
    present = set(metrics_for_user(owner=user))
    for key in (key for key in CHART_METRICS if key in present):
        if len(charts) >= 3:
            break
        if (chart := _metric_chart(user, key, today)) is not None:
            charts.append(chart)
    for test in flagged:
        if len(charts) >= MAX_CHARTS:
            break
        if (chart := _test_chart(test, kind="lab")) is not None:
            charts.append(chart)
    return charts


def _question_items(*, labs: list[dict], groups: list[ReconciledMedication], recurring: list[dict]) -> list[dict]:
    """Questions suggested by the data: conflicting medications, results out of range or moving, recurring symptoms."""
    items = []
    for group in groups:
        if group.is_current and group.conflicts:
            data = {"name": group.shown.name, "conflicts": [conflict["kind"] for conflict in group.conflicts]}
            items.append(new_item(f"question:medication:{group.key}", "medication_conflict", data))
    for lab in labs:
        data = lab["data"]
        key = lab["key"].removeprefix("lab:")
        if data["flag"]:
            items.append(new_item(f"question:lab:{key}", "lab_out_of_range", data))
        elif data["trend"] in ("up", "down"):
            items.append(new_item(f"question:trend:{key}", "lab_trend", data))
    for entry in recurring:
        if entry["recent"] >= RECURRING_SYMPTOM_COUNT:
            data = {"what": entry["what"], "count": entry["recent"], "days": RECURRING_SYMPTOM_DAYS}
            items.append(new_item(f"question:symptom:{entry['what'].lower()}", "recurring_symptom", data))
    return items[:MAX_SUGGESTED_QUESTIONS]


def packet_build(*, user: User, reason: str = "", now: datetime.datetime | None = None) -> dict:
    """A fresh packet from the owner's records (reads only; a few queries per kind, none per item)."""
    now = now or timezone.now()
    symptoms = list(
        Symptom.objects.filter(owner=user, effective_at__gte=now - datetime.timedelta(days=SYMPTOM_DAYS)).order_by(
            "-effective_at", "-id"
        )
    )
    recurring = _recurring(symptoms)
    groups = medications_reconcile(list(Medication.objects.filter(owner=user).order_by("-effective_at", "-id")))
    lab_tests = selectors.lab_tests_for_user(user=user)
    vital_tests = selectors.lab_tests_for_user(user=user, model=VitalSign)
    labs = _lab_items(lab_tests)
    sections = {
        "concerns": _concern_items(reason, recurring),
        "symptoms": _symptom_items(symptoms),
        "medications": _medication_items(groups),
        "allergies": [
            new_item(
                f"allergy:{row.public_id}",
                "allergy",
                {
                    "substance": row.substance,
                    "reaction": row.reaction,
                    "criticality": row.criticality,
                    "category": row.category,
                    "status": row.clinical_status,
                    "code": row.code,
                    "system": row.code_system,
                },
            )
            for row in selectors.allergies_for_user(user=user)[:MAX_ITEMS]
        ],
        "conditions": [
            new_item(
                f"condition:{row.public_id}",
                "condition",
                {
                    "name": row.name,
                    "since": _iso(row.effective_at),
                    "status": row.clinical_status,
                    "code": row.code,
                    "system": row.code_system,
                },
            )
            for row in selectors.conditions_active_for_user(user=user)[:MAX_ITEMS]
        ],
        "labs": labs,
        "vitals": _vital_items(vital_tests),
        "immunisations": [
            new_item(
                f"immunisation:{row.public_id}",
                "immunisation",
                {"vaccine": row.vaccine, "date": _iso(row.effective_at), "code": row.code, "system": row.code_system},
            )
            for row in Immunization.objects.filter(owner=user).order_by("-effective_at", "-id")[:MAX_ITEMS]
        ],
        "charts": _chart_items(user, lab_tests, vital_tests, now.date()),
        "questions": _question_items(labs=labs, groups=groups, recurring=recurring),
    }
    return {"version": PACKET_VERSION, "revision": 0, "built_at": now.isoformat(), "sections": sections}


def packet_merge(fresh: dict, previous: dict) -> dict:
    """A rebuilt packet that keeps the patient's edits of items still there, and the lines they added."""
    merged = copy.deepcopy(fresh)
    merged["revision"] = previous.get("revision", 0) + 1
    for name in SECTION_NAMES:
        old_items = previous.get("sections", {}).get(name, [])
        by_key = {item["key"]: item for item in old_items}
        items = merged["sections"].setdefault(name, [])
        for item in items:
            old = by_key.get(item["key"])
            if old is not None:
                item.update(include=old["include"], text=old["text"], note=old["note"])
        fresh_keys = {item["key"] for item in items}
        items.extend(item for item in old_items if item["kind"] == "patient" and item["key"] not in fresh_keys)
    return merged


# -- showing the packet ---------------------------------------------------------------------------


def _parse_moment(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    moment = datetime.datetime.fromisoformat(value)
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


def _day_text(value: str | None) -> str:
    moment = _parse_moment(value) if value and "T" in value else None
    day = moment.date() if moment else (datetime.date.fromisoformat(value[:10]) if value else None)
    return date_format(day, "DATE_FORMAT") if day else ""


def _moment_text(value: str | None) -> str:
    moment = _parse_moment(value)
    return date_format(moment, "DATETIME_FORMAT") if moment else ""


def _amount(value, unit: str) -> str:
    if value is None:
        return ""
    return format_amount(value, unit, value_decimals([value]))


def _range_text(low, high, unit: str) -> str:
    if low is not None and high is not None:
        return f"{format_number(low, value_decimals([low]))}–{_amount(high, unit)}"
    if high is not None:
        return f"≤ {_amount(high, unit)}"
    if low is not None:
        return f"≥ {_amount(low, unit)}"
    return ""


def _measured(data: dict) -> str:
    components = [item for item in data.get("components") or [] if item.get("value") is not None]
    if len(components) > 1:
        units = {item.get("unit", "") for item in components}
        joined = "/".join(format_number(item["value"], value_decimals([item["value"]])) for item in components)
        return f"{joined}\N{NO-BREAK SPACE}{units.pop()}" if len(units) == 1 else joined
    if data.get("value") is not None:
        return _amount(data["value"], data.get("unit", ""))
    return data.get("value_text") or ""


def _symptom_line(data: dict) -> str:
    parts = [_moment_text(data["onset"]), data["what"]]
    if data.get("severity") is not None:
        parts.append(_("severity %(value)d/10") % {"value": data["severity"]})
    if data.get("duration_minutes"):
        parts.append(_("lasted %(duration)s") % {"duration": duration_text(data["duration_minutes"])})
    return " — ".join(part for part in parts if part)


def _concern_line(item: dict) -> str:
    data = item["data"]
    if item["kind"] != "symptom":
        return data.get("text", "")
    line = ngettext(
        "%(what)s: %(count)d time since %(date)s", "%(what)s: %(count)d times since %(date)s", data["count"]
    ) % {"what": data["what"], "count": data["count"], "date": _day_text(data["since"])}
    if data.get("max_severity") is not None:
        line += " — " + _("up to %(value)d/10") % {"value": data["max_severity"]}
    return line


def _lab_line(data: dict) -> str:
    line = _("%(name)s: %(value)s on %(date)s") % {
        "name": data["name"],
        "value": _measured(data),
        "date": _day_text(data["date"]),
    }
    if data.get("flag") == "high":
        line += " — " + _("above range")
    elif data.get("flag") == "low":
        line += " — " + _("below range")
    reference = _range_text(data.get("low"), data.get("high"), data.get("unit", ""))
    if reference:
        line += " " + _("(reference %(range)s)") % {"range": reference}
    return line


def _lab_note(data: dict) -> str:
    history = " → ".join(_amount(value, data.get("unit", "")) for _day, value in data.get("history", []))
    if data.get("trend") == "up":
        return _("Rising: %(values)s") % {"values": history}
    if data.get("trend") == "down":
        return _("Falling: %(values)s") % {"values": history}
    if data.get("trend") == "stable":
        return _("Stable: %(values)s") % {"values": history}
    return ""


def _medication_note(data: dict) -> str:
    notes = []
    for conflict in data.get("conflicts", []):
        if conflict["kind"] == "status":
            notes.append(
                _("Your records disagree: %(active)s lists it as current, %(stopped)s as stopped.")
                % {"active": ", ".join(conflict["active"]), "stopped": ", ".join(conflict["stopped"])}
            )
        else:
            notes.append(
                _("Your records give different doses: %(values)s.") % {"values": "; ".join(conflict["values"])}
            )
    return " ".join(notes)


def _question_line(item: dict) -> str:
    data, kind = item["data"], item["kind"]
    if kind == "medication_conflict":
        return _("My records disagree about %(name)s. Am I still meant to take it, and at what dose?") % data
    if kind == "lab_out_of_range":
        params = {"name": data["name"], "value": _measured(data), "date": _day_text(data["date"])}
        if data["flag"] == "high":
            return (
                _(
                    "My %(name)s was %(value)s on %(date)s, above its reference range. What does it mean for me, "
                    "and should it be checked again?"
                )
                % params
            )
        return (
            _(
                "My %(name)s was %(value)s on %(date)s, below its reference range. What does it mean for me, "
                "and should it be checked again?"
            )
            % params
        )
    if kind == "lab_trend":
        history = data.get("history") or [[data["date"], data["value"]]]
        params = {
            "name": data["name"],
            "first": _amount(history[0][1], data["unit"]),
            "last": _amount(history[-1][1], data["unit"]),
            "date": _day_text(history[0][0]),
        }
        if data["trend"] == "up":
            return _("My %(name)s has been rising (%(first)s on %(date)s, now %(last)s). Should we act on it?") % params
        return _("My %(name)s has been falling (%(first)s on %(date)s, now %(last)s). Should we act on it?") % params
    if kind == "recurring_symptom":
        return (
            ngettext(
                "I have had %(what)s %(count)d time in the last %(days)d days. What could cause it, and when should I "
                "seek help?",
                "I have had %(what)s %(count)d times in the last %(days)d days. What could cause it, and when should I "
                "seek help?",
                data["count"],
            )
            % data
        )
    return data.get("text", "")


def item_line(section: str, item: dict) -> str:
    """The item's line as generated from its facts, in the active language."""
    data, kind = item["data"], item["kind"]
    if kind == "patient":
        return data.get("text", "")
    if section == "concerns":
        return _concern_line(item)
    if section == "questions":
        return _question_line(item)
    if kind == "symptom":
        return _symptom_line(data)
    if kind == "medication":
        return " — ".join(part for part in (data["name"], data.get("dosage", "")) if part)
    if kind == "allergy":
        line = data["substance"]
        return f"{line} — {data['reaction']}" if data.get("reaction") else line
    if kind == "condition":
        since = _day_text(data.get("since"))
        return _("%(name)s, since %(date)s") % {"name": data["name"], "date": since} if since else data["name"]
    if kind == "lab":
        return _lab_line(data)
    if kind == "vital":
        return _("%(name)s: %(value)s on %(date)s") % {
            "name": data["name"],
            "value": _measured(data),
            "date": _day_text(data["date"]),
        }
    if kind == "immunisation":
        day = _day_text(data.get("date"))
        return f"{data['vaccine']} — {day}" if day else data["vaccine"]
    if kind == "test_chart":
        return data["title"]
    if kind == "metric_chart":
        return str(METRICS[data["metric"]].label).capitalize()
    return ""


def item_note(section: str, item: dict) -> str:
    """The item's note as generated from its facts, in the active language."""
    data, kind = item["data"], item["kind"]
    if kind == "symptom" and section == "symptoms":
        return data.get("note", "")
    if kind == "medication":
        return _medication_note(data)
    if kind == "allergy" and data.get("criticality") == "high":
        return _("High criticality")
    if kind == "lab":
        return _lab_note(data)
    return ""


def _item_flag(item: dict) -> str:
    data = item["data"]
    if item["kind"] == "medication" and data.get("conflicts"):
        return "ask"
    if item["kind"] == "lab" and data.get("flag") in ("high", "low"):
        return data["flag"]
    return ""


def _item_sources(item: dict) -> str:
    data = item["data"]
    if item["kind"] != "medication" or not data.get("sources"):
        return ""
    text = _("From: %(sources)s") % {"sources": ", ".join(data["sources"])}
    if data.get("records", 1) > 1:
        text += " " + ngettext("(%(count)d record merged)", "(%(count)d records merged)", data["records"]) % {
            "count": data["records"]
        }
    return text


def item_chart(item: dict) -> Chart | None:
    """The item's chart, drawn from the points it keeps (so a shared snapshot draws what was shared)."""
    data = item["data"]
    if item["kind"] == "test_chart":
        points = [(datetime.date.fromisoformat(day), value) for day, value in data["points"]]
        return line_chart(
            points,
            title=data["title"],
            unit=data["unit"],
            reference_low=data.get("low"),
            reference_high=data.get("high"),
            width=480,
            height=200,
        )
    if item["kind"] == "metric_chart":
        points = [(datetime.date.fromisoformat(point[0]), *point[1:]) for point in data["points"]]
        points = [(datetime.date.fromisoformat(data["start"]), None), *points]
        points.append((datetime.date.fromisoformat(data["end"]), None))
        return line_chart(points, title=item_line("charts", item), unit=data["unit"], width=480, height=200)
    return None


@dataclass
class ItemView:
    line: str
    note: str = ""
    flag: str = ""
    sources: str = ""
    chart: Chart | None = None
    edited: bool = False


@dataclass
class SectionView:
    name: str
    label: str
    items: list[ItemView]


@dataclass
class SummaryView:
    """A packet as a reader sees it: the visit, the patient, and each section's included lines."""

    patient_name: str
    birth_date: str
    appointment: str
    clinician: str
    reason: str
    taken_at: str
    sections: list[SectionView]


def section_items_view(name: str, items: list[dict], *, charts: bool = True) -> list[ItemView]:
    """The included items of a section as lines, notes, flags and charts in the active language."""
    views = []
    for item in items:
        if not item["include"]:
            continue
        views.append(
            ItemView(
                line=item["text"] or item_line(name, item),
                note=item["note"] if item["note"] is not None else item_note(name, item),
                flag=_item_flag(item),
                sources=_item_sources(item),
                chart=item_chart(item) if charts else None,
                edited=item["text"] is not None or item["note"] is not None,
            )
        )
    return views


def summary_view(snapshot: dict, *, charts: bool = True) -> SummaryView:
    """What the summary page, the printout and the shared page show of a snapshot, in the active language."""
    visit, patient, packet = snapshot["visit"], snapshot["patient"], snapshot["packet"]
    sections = []
    for name, label in SECTIONS:
        items = section_items_view(name, packet.get("sections", {}).get(name, []), charts=charts)
        if items or name in ("medications", "allergies", "conditions"):
            sections.append(SectionView(name=name, label=str(label), items=items))
    return SummaryView(
        patient_name=patient.get("name", ""),
        birth_date=_day_text(patient.get("birth_date")),
        appointment=_moment_text(visit["appointment_at"]),
        clinician=visit.get("clinician", ""),
        reason=visit.get("reason", ""),
        taken_at=_moment_text(snapshot.get("taken_at")),
        sections=sections,
    )


def visit_snapshot(*, visit: VisitPreparation) -> dict:
    """The visit, the patient's name and birth date, and the packet as they are now (a copy)."""
    owner = visit.owner
    try:
        profile = owner.profile
    except ObjectDoesNotExist:
        profile = None
    return {
        "version": PACKET_VERSION,
        "id": str(uuid.uuid4()),
        "taken_at": timezone.now().isoformat(),
        "patient": {
            "id": str(owner.public_id),
            "name": (profile.display_name if profile else "") or "",
            "birth_date": _iso(profile.date_of_birth) if profile else None,
        },
        "visit": {
            "appointment_at": visit.appointment_at.isoformat(),
            "clinician": visit.clinician,
            "reason": visit.reason,
        },
        "packet": copy.deepcopy(visit.packet),
    }


def patient_language(user: User) -> str:
    """The language the patient reads HealthSpace in (their profile's, else English)."""
    profile = getattr(user, "profile", None)
    return (profile.preferred_language if profile else "") or "en"
