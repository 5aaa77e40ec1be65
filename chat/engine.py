"""What every chat engine speaks: the events of a reply, citations, and the engine interface.

A reply is a stream of events. `TextDelta` carries text for the patient (Markdown); `ToolUsed` says that a
read-only tool ran (its name, arguments and the numbers it computed) and which data it cited; `Finished`
closes the reply with what was sent to whom. The pipeline (`chat.services`) stores the text, the citations
and the record of what was sent; the views stream `TextDelta`s to the browser.

Engines never compute numbers themselves from text: tools compute them from the records (`chat.tools`),
engines phrase them. The offline engine phrases them with templates; an outside model phrases them from
the tool results it is handed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Citation:
    """One piece of the patient's data behind an answer.

    kind: a record kind of `records.selectors.RECORD_KINDS` ("lab", "medication"...) or "series" for the
    time-series store. ref: the record's public_id (str), or the metric key for a series. label: what it
    is, in the patient's language ("HbA1c", "Resting heart rate"). date: ISO date or "start/end" range.
    value: the value as shown (with unit), "" when not a measurement. source: where it came from
    (human-readable source label). url: the page in HealthSpace that shows it (relative URL).
    """

    kind: str
    ref: str
    label: str
    date: str = ""
    value: str = ""
    source: str = ""
    url: str = ""

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "ref": self.ref,
            "label": self.label,
            "date": self.date,
            "value": self.value,
            "source": self.source,
            "url": self.url,
        }


@dataclass
class ToolResult:
    """What a tool computed: JSON-serialisable data (numbers computed by code) and the data it rests on."""

    name: str
    data: dict
    citations: list[Citation] = field(default_factory=list)


@dataclass
class TextDelta:
    text: str


@dataclass
class ToolUsed:
    name: str
    arguments: dict
    result: ToolResult


@dataclass
class Finished:
    """The end of a reply. provider/model: who answered ("offline" / "" for the offline engine).
    sent: what left the health space for the provider (the exact messages, after de-identification), or
    [] when nothing did. note: why this engine answered (e.g. "no_consent", "no_key"), or ""."""

    provider: str
    model: str = ""
    sent: list = field(default_factory=list)
    note: str = ""


Event = TextDelta | ToolUsed | Finished


@dataclass
class Turn:
    """One message of the conversation as an engine sees it: role is "user" or "assistant"."""

    role: str
    content: str


class Engine(Protocol):
    provider: str

    def reply(self, *, owner, turns: list[Turn], language: str, memory: list[str]) -> Iterator[Event]:
        """Answer the last user turn. language: "en" or "fr". memory: facts the patient confirmed.
        Yields TextDelta/ToolUsed events and ends with exactly one Finished."""
        ...
