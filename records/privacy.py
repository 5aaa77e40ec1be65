"""Records' categories for the privacy centre (accounts/privacy.py): registered by RecordsConfig.ready().

One category per kind of record (a kind added to RECORD_KINDS is listed, exported and erased with no
change here), the time series, visits and their share links, and the record as a FHIR R4 Bundle in
the export. Documents add their files: exported decrypted, deleted from storage by erasure.
"""

from __future__ import annotations

import itertools

from django.db.models import Count, Max, Min
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from accounts.privacy import ArchivePart, Category, archive_part_register, category_register

# Kinds a visit packet (and so a share link) draws from.
SHARED_KINDS = frozenset(
    {"conditions", "medications", "allergies", "immunisations", "lab-results", "vital-signs", "symptoms"}
)
# Kinds that come in from connected sources and imports, besides what the patient enters.
SYNCED_KINDS = frozenset(
    {
        "conditions",
        "medications",
        "allergies",
        "immunisations",
        "lab-results",
        "vital-signs",
        "procedures",
        "visits",
        "notes",
        "workouts",
    }
)
TIMESERIES_HEADER = ["metric", "start", "end", "value", "unit", "source"]


def _record_sources(model):
    def sources(user) -> list[str]:
        from .models import Source

        codes = model.objects.filter(owner=user).values_list("source", flat=True).distinct()
        return sorted({str(Source(code).label) if code in Source.values else code for code in codes})

    return sources


def _record_uses(kind: str) -> tuple[str, ...]:
    uses = ["storage", "assistant"]
    if kind in SHARED_KINDS:
        uses.append("share_links")
    if kind in SYNCED_KINDS:
        uses.append("sync")
    return tuple(uses)


def _documents_export(user, writer) -> None:
    from django.core.files.storage import default_storage

    from accounts.export import row_dict, safe_name
    from healthspace import crypto

    from .models import Document

    documents = Document.objects.filter(owner=user).order_by("pk")
    writer.model_rows(Document, documents, name="records/documents.json")
    for document in documents.iterator(chunk_size=50):
        # One file in memory at a time (a document is at most DOCUMENT_MAX_BYTES).
        with default_storage.open(document.storage_name, "rb") as stored:
            content = crypto.decrypt_bytes(stored.read())
        filename = safe_name(row_dict(document)["filename"], default="document")
        writer.file(f"documents/{document.public_id}-{filename}", content)


def _documents_files(user) -> list[str]:
    from .models import Document

    return list(Document.objects.filter(owner=user).values_list("storage_name", flat=True))


def _sample_rows(days, counted: dict):
    """CSV rows of one metric's days, one per sample; counts the days as they pass."""
    for metric, _day, samples in days:
        counted["days"] += 1
        for sample in samples:
            yield [metric, sample.start.isoformat(), sample.end.isoformat(), sample.value, sample.unit, sample.source]


def _timeseries_export(user, writer) -> None:
    from . import timeseries
    from .models import SampleDay

    # Metric by metric (the days come ordered by metric): one CSV each, streamed.
    for metric, days in itertools.groupby(timeseries.samples_by_day(owner=user), key=lambda item: item[0]):
        counted = {"days": 0}
        writer.csv_rows(f"timeseries/{metric}.csv", TIMESERIES_HEADER, _sample_rows(days, counted))
        writer.counted(SampleDay, counted["days"])


def _timeseries_breakdown(user) -> list[dict]:
    from . import timeseries
    from .models import SampleDay

    rows = (
        SampleDay.objects.filter(owner=user)
        .values("metric")
        .annotate(days=Count("id"), first=Min("day"), last=Max("day"))
        .order_by("metric")
    )
    breakdown = []
    for row in rows:
        metric = timeseries.METRICS.get(row["metric"])
        breakdown.append(
            {
                "label": metric.label if metric is not None else row["metric"],
                "count": row["days"],
                "first": row["first"],
                "last": row["last"],
            }
        )
    return breakdown


INSURANCE_MODELS = ("records.Coverage", "records.Claim", "records.ExplanationOfBenefit")


def _insurance_sources(user) -> list[str]:
    from django.apps import apps

    found: set[str] = set()
    for label in INSURANCE_MODELS:
        found.update(_record_sources(apps.get_model(label))(user))
    return sorted(found)


def _fhir_bundle(user, writer) -> None:
    from .fhir.exporter import fhir_export_bundle

    writer.json("record.fhir.json", fhir_export_bundle(owner=user))


def register() -> None:
    from .selectors import RECORD_KINDS

    for order, (kind, model) in enumerate(RECORD_KINDS.items()):
        documents = kind == "documents"
        category_register(
            Category(
                key=f"records/{kind}",
                label=capfirst(model._meta.verbose_name_plural),  # lazy: shown in the patient's language
                models=(model._meta.label,),
                uses=_record_uses(kind),
                order=20 + order,
                sources=_record_sources(model),
                export=_documents_export if documents else None,
                files=_documents_files if documents else None,
                export_excludes=tuple(
                    f"{model._meta.label}.{name}" for name in ("source_key", "content_key", "test_key")
                ),
            )
        )
    category_register(
        Category(
            key="timeseries",
            label=_("Time series"),
            description=_("Readings from your devices and apps (steps, heart rate, sleep, weight, food...), by day."),
            models=("records.SampleDay",),
            uses=("storage", "assistant", "sync"),
            order=50,
            breakdown=_timeseries_breakdown,
            export=_timeseries_export,
        )
    )
    category_register(
        Category(
            key="visits",
            label=_("Visit preparations and share links"),
            description=_("The visits you prepare, what was decided, and the links you made to share a summary."),
            models=("records.VisitPreparation", "records.ShareLink"),
            uses=("storage", "assistant", "share_links"),
            order=55,
        )
    )
    category_register(
        Category(
            key="insurance",
            label=_("Insurance plans and costs"),
            description=_(
                "Your insurance plans, and the claims and explanations of benefit that say what visits cost."
            ),
            models=INSURANCE_MODELS,
            uses=("storage", "assistant", "sync"),
            order=57,
            sources=_insurance_sources,
            export_excludes=tuple(
                f"{label}.{name}"
                for label in INSURANCE_MODELS
                for name in ("source_key", "encounter_key", "coverage_key", "claim_key")
                if not (label == "records.Coverage" and name != "source_key")
                and not (label == "records.Claim" and name == "claim_key")
            ),
        )
    )
    category_register(
        Category(
            key="care",
            label=_("Care habits"),
            description=_("The preventive checks you marked done and the medication doses you logged."),
            models=("records.PreventiveCheck", "records.DoseLog"),
            uses=("storage", "assistant"),
            order=58,
        )
    )
    archive_part_register(ArchivePart(key="fhir", label=_("Your record as a FHIR R4 Bundle"), write=_fhir_bundle))
