"""Withings measure groups -> samples (value x 10^unit, the group's date as start and end)."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from records.timeseries import Sample, TimeSeriesError

SOURCE = "Withings"
# meastype -> (metric, unit the value is in). 5 fat-free mass and 8 fat mass have no metric: skipped.
MEASURE_TYPES = {
    1: ("weight", "kg"),
    4: ("height", "m"),
    6: ("body_fat", "%"),
    9: ("blood_pressure_diastolic", "mmHg"),
    10: ("blood_pressure_systolic", "mmHg"),
    11: ("heart_rate", "bpm"),
    54: ("oxygen_saturation", "%"),
}
REQUESTED_TYPES = "1,4,5,6,8,9,10,11,54"


@dataclass
class MeasureStats:
    read: int = 0
    skipped: int = 0  # measures of a type HealthSpace does not keep
    rejected: int = 0  # malformed measures
    skipped_types: dict = field(default_factory=dict)


def measure_value(value, unit) -> float:
    """value x 10^unit, computed in decimal so 118003 x 10^-3 is exactly 118.003."""
    return float(Decimal(int(value)).scaleb(int(unit)))


def measure_samples(groups: list, stats: MeasureStats) -> list[Sample]:
    samples = []
    for group in groups or []:
        if not isinstance(group, dict):
            stats.rejected += 1
            continue
        try:
            when = datetime.datetime.fromtimestamp(int(group["date"]), tz=datetime.UTC)
        except (KeyError, TypeError, ValueError, OverflowError):
            stats.rejected += len(group.get("measures") or []) or 1
            continue
        for measure in group.get("measures") or []:
            stats.read += 1
            kind = measure.get("type") if isinstance(measure, dict) else None
            if kind not in MEASURE_TYPES:
                stats.skipped += 1
                stats.skipped_types[kind] = stats.skipped_types.get(kind, 0) + 1
                continue
            metric, unit = MEASURE_TYPES[kind]
            try:
                value = measure_value(measure["value"], measure["unit"])
                samples.append(Sample(metric=metric, start=when, end=when, value=value, unit=unit, source=SOURCE))
            except (KeyError, TypeError, ValueError, InvalidOperation, TimeSeriesError):
                stats.rejected += 1
    return samples
