"""Oura v2 heart-rate documents -> samples ({"bpm", "source", "timestamp"} each, an instant)."""

import datetime
from dataclasses import dataclass

from records.timeseries import Sample, TimeSeriesError

SOURCE = "Oura"


@dataclass
class Stats:
    read: int = 0
    rejected: int = 0


def _instant(value) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.utcoffset() is None:
        raise ValueError("naive timestamp")
    return when.astimezone(datetime.UTC)


def heartrate_samples(documents: list, stats: Stats) -> list[Sample]:
    samples = []
    for document in documents or []:
        stats.read += 1
        try:
            when = _instant(document["timestamp"])
            bpm = float(document["bpm"])
            samples.append(Sample(metric="heart_rate", start=when, end=when, value=bpm, unit="bpm", source=SOURCE))
        except (KeyError, TypeError, ValueError, TimeSeriesError):
            stats.rejected += 1
    return samples
