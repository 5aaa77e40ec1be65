"""Oura v2 documents -> samples.

- heartrate `{bpm, source, timestamp}`: one heart-rate sample each, an instant.
- daily_activity `{day, timestamp, steps, active_calories, ...}`: whole-day samples of steps and active
  energy filed under their `day` (`day_total_span`); a day's total so far replaces itself as it grows
  (the provider replaces samples).
- sleep `{type, bedtime_start, bedtime_end, sleep_phase_5_min, average_hrv, ...}`: the hypnogram, one
  character per 5 minutes from bedtime_start ('1' deep, '2' light, '3' REM, '4' awake), as one stage
  sample per run of equal characters; one in-bed sample for the period; the period's average HRV
  (Oura's RMSSD, in ms) as one heart_rate_variability sample over it. The period's average heart
  rate is left out: the heartrate collection already brings the night's readings, and a mean of them
  counted again would bend the day's mean. Periods of type "deleted" are skipped.
- daily_spo2 `{day, spo2_percentage: {average}}`: the night's average as one oxygen_saturation sample
  over the day (UTC: the document gives no time zone).
Readiness is not read: it is a score, and its temperature deviation is a difference from the
person's baseline, not a body temperature, so no metric of the store holds either.
"""

import datetime
from dataclasses import dataclass

from records.timeseries import SLEEP_STAGES, Sample, TimeSeriesError, day_total_span

SOURCE = "Oura"
PHASE_SECONDS = 300
PHASES = {"1": "deep", "2": "core", "3": "rem", "4": "awake"}
# daily_activity field -> (metric, unit).
ACTIVITY_FIELDS = {"steps": ("steps", "count"), "active_calories": ("active_energy", "kcal")}


@dataclass
class Stats:
    read: int = 0
    rejected: int = 0
    skipped: int = 0


def _instant(value) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.utcoffset() is None:
        raise ValueError("naive timestamp")
    return when


def heartrate_samples(documents: list, stats: Stats) -> list[Sample]:
    samples = []
    for document in documents or []:
        stats.read += 1
        try:
            when = _instant(document["timestamp"]).astimezone(datetime.UTC)
            bpm = float(document["bpm"])
            samples.append(Sample(metric="heart_rate", start=when, end=when, value=bpm, unit="bpm", source=SOURCE))
        except (KeyError, TypeError, ValueError, TimeSeriesError):
            stats.rejected += 1
    return samples


def daily_activity_samples(documents: list, stats: Stats) -> list[Sample]:
    """Each day's steps and active energy as whole-day samples filed under their date."""
    samples = []
    for document in documents or []:
        try:
            start, end = day_total_span(datetime.date.fromisoformat(document["day"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            stats.rejected += 1
            continue
        for name, (metric, unit) in ACTIVITY_FIELDS.items():
            if document.get(name) is None:
                continue
            stats.read += 1
            try:
                samples.append(Sample(metric, start, end, float(document[name]), unit, SOURCE))
            except (TypeError, ValueError, TimeSeriesError):
                stats.rejected += 1
    return samples


def _hypnogram(phases: str, start: datetime.datetime, end: datetime.datetime, stats: Stats) -> list[Sample]:
    samples = []
    index = 0
    while index < len(phases):
        phase = phases[index]
        length = 1
        while index + length < len(phases) and phases[index + length] == phase:
            length += 1
        stats.read += 1
        first = start + datetime.timedelta(seconds=PHASE_SECONDS * index)
        last = min(first + datetime.timedelta(seconds=PHASE_SECONDS * length), end)
        if phase in PHASES and first < end:
            samples.append(Sample("sleep", first, last, SLEEP_STAGES[PHASES[phase]], "stage", SOURCE))
        else:
            stats.rejected += 1
        index += length
    return samples


def sleep_samples(documents: list, stats: Stats) -> list[Sample]:
    """Each sleep period's stages, in-bed period and average HRV."""
    samples = []
    for document in documents or []:
        if not isinstance(document, dict) or document.get("type") == "deleted":
            stats.skipped += 1
            continue
        try:
            start = _instant(document["bedtime_start"]).astimezone(datetime.UTC)
            end = _instant(document["bedtime_end"]).astimezone(datetime.UTC)
            stats.read += 1
            samples.append(Sample("sleep", start, end, SLEEP_STAGES["in_bed"], "stage", SOURCE))
        except (KeyError, TypeError, ValueError, TimeSeriesError):
            stats.rejected += 1
            continue
        samples += _hypnogram(str(document.get("sleep_phase_5_min") or ""), start, end, stats)
        if document.get("average_hrv") is not None:
            stats.read += 1
            try:
                samples.append(
                    Sample("heart_rate_variability", start, end, float(document["average_hrv"]), "ms", SOURCE)
                )
            except (TypeError, ValueError, TimeSeriesError):
                stats.rejected += 1
    return samples


def spo2_samples(documents: list, stats: Stats) -> list[Sample]:
    """Each night's average blood oxygen, over its day."""
    samples = []
    for document in documents or []:
        average = ((document or {}).get("spo2_percentage") or {}).get("average")
        if average is None:
            stats.skipped += 1  # a night without a reading
            continue
        stats.read += 1
        try:
            start, end = day_total_span(datetime.date.fromisoformat(document["day"]))
            samples.append(Sample("oxygen_saturation", start, end, float(average), "%", SOURCE))
        except (KeyError, TypeError, ValueError, TimeSeriesError):
            stats.rejected += 1
    return samples
