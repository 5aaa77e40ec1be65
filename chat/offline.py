"""The offline engine: answers from the patient's data with rules and templates, without any network.

It reads the question (`chat.intents`), runs the read-only tools it needs (`chat.tools`, yielding a
`ToolUsed` for each), and phrases their numbers with templates in the patient's language (the
`language` argument, or the question's own when it is plainly the other one). Numbers and dates are
written the language's way (French: "74,4 mg/dL", "10 novembre 2008"). Citation markers [n] count the
citations of all the `ToolUsed` events of the reply, in order, from 1 (as the pipeline numbers them).

It never diagnoses, prescribes or suggests changing a treatment: such questions get a plain "the data
cannot answer this" and questions to ask a clinician. Deterministic: the same data and question give
the same answer.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from decimal import Decimal

from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from records import insurance, timeseries, trends

from . import intents, vocabulary
from .engine import Event, Finished, TextDelta, ToolResult, ToolUsed, Turn
from .tools import ToolError, format_date, range_shown, shown, tool_run

MAX_METRICS = 4
MAX_LABS = 3
MAX_HISTORY_ROWS = 10
MAX_MARKS = 6
MAX_LIST_SHOWN = 15
DEFAULT_TREND_DAYS = 90
LATEST_STATS_DAYS = 365
DEFAULT_CHANGES_DAYS = 30
DEFAULT_HABIT_WEEKS = 12
DEFAULT_COSTS_DAYS = 365
ACTIVITY_METRICS = frozenset({"steps", "distance", "exercise_time", "active_energy", "vo2max"})
SUM_METRICS = frozenset(key for key, metric in timeseries.METRICS.items() if metric.kind == "sum")
LAST_METRICS = frozenset(key for key, metric in timeseries.METRICS.items() if metric.kind == "last")
# Units shown without decimals whatever the data carries.
WHOLE_UNITS = {"mmHg", "bpm", "breaths/min", "count"}
# Memory facts about sport, mentioned beside activity numbers.
ACTIVITY_WORDS = (
    "marathon",
    "run",
    "race",
    "training",
    "jog",
    "cycl",
    "bike",
    "swim",
    "hike",
    "walk",
    "courir",
    "course",
    "semi",
    "velo",
    "natation",
    "randonnee",
    "entrainement",
    "triathlon",
    "trail",
    "sport",
)


class OfflineEngine:
    """Rules and templates over the read-only tools; provider "offline", nothing leaves the health space."""

    provider = "offline"

    def reply(self, *, owner, turns: list[Turn], language: str, memory: list[str]) -> Iterator[Event]:
        text = next((turn.content for turn in reversed(turns) if turn.role == "user"), "")
        question = intents.question_read(text, language=language, today=timezone.localdate())
        # Everything is computed inside the language override, then yielded outside it: a paused generator
        # must not leave the consumer's thread in another language.
        with translation.override(question.language):
            events = _Reply(owner=owner, question=question, memory=memory).events()
        yield from events
        yield Finished(provider=self.provider)


class _Reply:
    def __init__(self, *, owner, question: intents.Question, memory: list[str]):
        self.owner = owner
        self.question = question
        self.memory = memory
        self._events: list[Event] = []
        self._cited = 0
        self._blocks = 0

    # -- plumbing -----------------------------------------------------------------------------------------

    def events(self) -> list[Event]:
        for intent in self.question.intents:
            getattr(self, f"_answer_{intent}")()
        if not self._blocks:
            self._answer_unknown()
        return self._events

    def tool(self, name: str, arguments: dict) -> tuple[dict, int] | None:
        """Run a tool: (its data, the number of citations before it), or None when it refused."""
        try:
            result: ToolResult = tool_run(owner=self.owner, name=name, arguments=arguments)
        except ToolError:
            return None
        self._events.append(ToolUsed(name=name, arguments=arguments, result=result))
        offset = self._cited
        self._cited += len(result.citations)
        return result.data, offset

    def say(self, *lines: str) -> None:
        text = "\n".join(line for line in lines if line)
        if not text:
            return
        self._events.append(TextDelta(("\n\n" if self._blocks else "") + text))
        self._blocks += 1

    @staticmethod
    def mark(offset: int, cites) -> str:
        """Citation markers for indexes into one tool's citations: " [3][4]"."""
        if cites is None:
            return ""
        indexes = [cites] if isinstance(cites, int) else list(cites)
        numbers = sorted({offset + index + 1 for index in indexes})[:MAX_MARKS]
        return (" " + "".join(f"[{number}]" for number in numbers)) if numbers else ""

    def _period_arguments(self, default_days: int) -> dict:
        period = self.question.period
        if period is None:
            return {"period_days": default_days}
        return {"start": period.start.isoformat(), "end": period.end.isoformat()}

    def _memory_note(self) -> str:
        for fact in self.memory:
            if any(re.search(rf"\b{word}", vocabulary.normalise(fact)) for word in ACTIVITY_WORDS):
                return _("You mentioned: “%(fact)s”.") % {"fact": _md(fact.strip())}
        return ""

    # -- values -------------------------------------------------------------------------------------------

    @staticmethod
    def _decimals(data: dict) -> int:
        return 0 if data.get("unit") in WHOLE_UNITS else data.get("decimals", 1)

    @staticmethod
    def _value(value, unit: str, decimals: int, metric: str = "") -> str:
        if value is None:
            return ""
        if metric == "sleep":
            minutes = round(value)
            return f"{minutes // 60}\N{NO-BREAK SPACE}h\N{NO-BREAK SPACE}{minutes % 60:02d}\N{NO-BREAK SPACE}min"
        if metric == "distance":
            return shown(value / 1000, "km", 1)
        if metric == "steps":
            return shown(value, str(timeseries.METRICS["steps"].label), 0)
        return shown(value, unit, decimals)

    @staticmethod
    def _signed(value, unit: str, decimals: int) -> str:
        if value is None:
            return ""
        text = shown(abs(value), unit, decimals)
        if trends.format_number(abs(value), decimals) == trends.format_number(0, decimals):
            return text
        return ("+" if value > 0 else "−") + text

    # -- measurements -------------------------------------------------------------------------------------

    def _answer_metrics(self) -> None:
        question = self.question
        keys = list(question.metrics)
        if "blood_pressure" in keys:
            keys = [key for key in keys if key not in ("blood_pressure_systolic", "blood_pressure_diastolic")]
        for key in keys[:MAX_METRICS]:
            if key == "blood_glucose" and any(term.key == "glucose" for term in question.labs):
                continue  # answered as a lab test (or, without one, by _answer_labs' fallback)
            self._metric(key)

    def _metric(self, key: str) -> None:
        trend = self.question.trend
        default = DEFAULT_TREND_DAYS if trend else LATEST_STATS_DAYS
        ran = self.tool("metric_summary", {"metric": key, **self._period_arguments(default)})
        if ran is None:
            return
        data, offset = ran
        if key == "blood_pressure":
            self._say_blood_pressure(data, offset)
        else:
            self._say_metric(data, offset, trend=trend)
        if key in ACTIVITY_METRICS:
            self.say(self._memory_note())

    def _period_words(self, period: dict) -> str:
        return _("from %(start)s to %(end)s") % {
            "start": format_date(period["start"]),
            "end": format_date(period["end"]),
        }

    def _say_metric(self, data: dict, offset: int, *, trend: bool) -> None:
        label = data["label"] or _md(data.get("name", ""))
        title = label[:1].upper() + label[1:]
        unit, decimals, metric = data["unit"], self._decimals(data), data["metric"]
        latest, stats = data["latest"], data["stats"]
        if latest is None and stats is None:
            self.say(_("I found no %(label)s data in your health space.") % {"label": label})
            return
        lines = []
        if latest is not None:
            lines.append(
                _("**%(title)s**: your latest value is **%(value)s**, on %(date)s")
                % {
                    "title": title,
                    "value": self._value(latest["value"], unit, decimals, metric),
                    "date": format_date(latest["date"]),
                }
                + self.mark(offset, latest["cite"])
                + "."
            )
        if stats is None:
            if trend:
                lines.append(
                    _("There is no %(label)s data %(period)s.")
                    % {"label": label, "period": self._period_words(data["period"])}
                )
            self.say(*lines)
            return
        if not trend:
            # "What is my latest weight?": the latest value is the answer.
            self.say(*lines)
            return
        lines.append(_("%(period)s:") % {"period": _first_upper(self._period_words(data["period"]))})
        values = {
            "mean": self._value(stats["mean"], unit, decimals, metric),
            "min": self._value(stats["min"], unit, decimals, metric),
            "max": self._value(stats["max"], unit, decimals, metric),
            "days": stats["days_with_data"],
        }
        if metric == "sleep":
            text = ngettext(
                "- average **%(mean)s** asleep a night, from %(min)s to %(max)s, over %(days)d night",
                "- average **%(mean)s** asleep a night, from %(min)s to %(max)s, over %(days)d nights",
                stats["days_with_data"],
            )
        elif metric in SUM_METRICS:
            text = ngettext(
                "- average per day **%(mean)s**, from %(min)s to %(max)s, on %(days)d day with data",
                "- average per day **%(mean)s**, from %(min)s to %(max)s, on %(days)d days with data",
                stats["days_with_data"],
            )
        else:
            text = ngettext(
                "- average **%(mean)s**, from %(min)s to %(max)s, on %(days)d day with data",
                "- average **%(mean)s**, from %(min)s to %(max)s, on %(days)d days with data",
                stats["days_with_data"],
            )
        lines.append(text % values + self.mark(offset, stats["cite"][:MAX_MARKS]))
        if stats["first_week_mean"] is not None:
            lines.append(
                _("- first week average %(first)s, last week average %(last)s (%(change)s)")
                % {
                    "first": self._value(stats["first_week_mean"], unit, decimals, metric),
                    "last": self._value(stats["last_week_mean"], unit, decimals, metric),
                    "change": self._signed(stats["week_change"], unit if metric != "sleep" else "min", decimals),
                }
            )
        if stats["trend"]:
            lines.append(f"- {stats['trend']}")
        self.say(*lines)

    def _say_blood_pressure(self, data: dict, offset: int) -> None:
        systolic, diastolic = data["systolic"], data["diastolic"]
        latest_s, latest_d = systolic["latest"], diastolic["latest"]
        if latest_s is None or latest_d is None:
            self.say(_("I found no blood pressure reading in your health space."))
            return
        lines = [
            _("**Blood pressure**: your latest reading is **%(value)s**, on %(date)s")
            % {
                "value": f"{trends.format_number(latest_s['value'], 0)}/"
                f"{trends.format_number(latest_d['value'], 0)}\N{NO-BREAK SPACE}mmHg",
                "date": format_date(latest_s["date"]),
            }
            + self.mark(offset, [latest_s["cite"], latest_d["cite"]])
            + "."
        ]
        stats_s, stats_d = systolic["stats"], diastolic["stats"]
        if stats_s and stats_d and stats_s["values"] > 1:
            lines.append(
                ngettext(
                    "%(period)s: average %(systolic)s/%(diastolic)s mmHg over %(count)d reading (systolic from "
                    "%(smin)s to %(smax)s, diastolic from %(dmin)s to %(dmax)s)",
                    "%(period)s: average %(systolic)s/%(diastolic)s mmHg over %(count)d readings (systolic from "
                    "%(smin)s to %(smax)s, diastolic from %(dmin)s to %(dmax)s)",
                    stats_s["values"],
                )
                % {
                    "period": _first_upper(self._period_words(data["period"])),
                    "systolic": trends.format_number(stats_s["mean"], 0),
                    "diastolic": trends.format_number(stats_d["mean"], 0),
                    "count": stats_s["values"],
                    "smin": trends.format_number(stats_s["min"], 0),
                    "smax": trends.format_number(stats_s["max"], 0),
                    "dmin": trends.format_number(stats_d["min"], 0),
                    "dmax": trends.format_number(stats_d["max"], 0),
                }
                + self.mark(offset, stats_s["cite"][-MAX_MARKS:])
                + "."
            )
        self.say(*lines)

    # -- lab tests ----------------------------------------------------------------------------------------

    def _answer_labs(self) -> None:
        for term in self.question.labs[:MAX_LABS]:
            arguments = {"test": term.aliases[0]}
            period = self.question.period
            if period is not None:
                arguments.update(start=period.start.isoformat(), end=period.end.isoformat())
            ran = self.tool("lab_history", arguments)
            if ran is None:
                continue
            data, offset = ran
            if data["found"]:
                self._say_lab(data, offset)
            elif term.key == "glucose":
                self._metric("blood_glucose")
            else:
                self.say(_("I found no %(test)s result in your health space.") % {"test": term.aliases[0]})

    def _flag_words(self, flag: str, reference: dict, unit: str, decimals: int) -> str:
        bounds = range_shown(reference.get("low"), reference.get("high"), unit, decimals)
        if flag == "high":
            return _("above the reference range (%(range)s)") % {"range": bounds} if bounds else _("flagged high")
        if flag == "low":
            return _("below the reference range (%(range)s)") % {"range": bounds} if bounds else _("flagged low")
        return ""

    def _result_value(self, item: dict, unit: str, decimals: int) -> str:
        if item["value"] is None:
            return _md(item["value_text"])
        return shown(item["value"], unit, decimals)

    def _say_lab(self, data: dict, offset: int) -> None:
        unit, decimals, name = data["unit"], data["decimals"], _md(data["name"])
        latest = data["latest"]
        if latest is None:
            self.say(_("I found no %(test)s result in your health space.") % {"test": name})
            return
        flag = self._flag_words(latest["flag"], latest["reference"], unit, decimals)
        params = {
            "test": name,
            "value": self._result_value(latest, unit, decimals),
            "date": format_date(latest["date"]),
            "flag": flag,
        }
        if flag:
            first = _("**%(test)s**: your latest result is **%(value)s**, on %(date)s, %(flag)s") % params
        else:
            first = _("**%(test)s**: your latest result is **%(value)s**, on %(date)s") % params
        lines = [first + self.mark(offset, latest["cite"]) + "."]
        results = data["results"]
        if len(results) > 1:
            lines.append(
                ngettext(
                    "Your %(count)d result, oldest first:",
                    "Your %(count)d results, oldest first:",
                    data["count"],
                )
                % {"count": data["count"]}
            )
            for item in results[-MAX_HISTORY_ROWS:]:
                words = self._flag_words(item["flag"], item["reference"], unit, decimals)
                line = _("%(date)s: %(value)s") % {
                    "date": format_date(item["date"]),
                    "value": self._result_value(item, unit, decimals),
                }
                lines.append(f"- {line}" + (f" — {words}" if words else "") + self.mark(offset, item["cite"]))
            if data["change"] is not None and data["first"] is not None:
                lines.append(
                    _("Change since %(date)s: %(change)s.")
                    % {
                        "date": format_date(data["first"]["date"]),
                        "change": self._signed(data["change"], unit, decimals),
                    }
                )
        reference = data["reference"]
        if reference["low"] is not None or reference["high"] is not None:
            lines.append(
                ngettext(
                    "%(out)d of these %(count)d result is outside its reference range.",
                    "%(out)d of these %(count)d results are outside their reference range.",
                    len(results),
                )
                % {"out": data["out_of_range"], "count": len(results)}
            )
        elif data["out_of_range"]:
            lines.append(
                ngettext(
                    "%(out)d result is flagged outside its range by the laboratory.",
                    "%(out)d results are flagged outside their range by the laboratory.",
                    data["out_of_range"],
                )
                % {"out": data["out_of_range"]}
            )
        else:
            lines.append(_("The laboratory gave no reference range with these results."))
        if data["not_converted"]:
            lines.append(
                ngettext(
                    "%(count)d result in a unit that cannot be converted is not shown.",
                    "%(count)d results in a unit that cannot be converted are not shown.",
                    data["not_converted"],
                )
                % {"count": data["not_converted"]}
            )
        self.say(*lines)

    # -- lists --------------------------------------------------------------------------------------------

    def _list(self, name: str, arguments: dict, *, empty: str, intro, details) -> list[str]:
        """A list tool's items as bullets (the name in bold, then `details(item)`), after `intro(count)`."""
        ran = self.tool(name, arguments)
        if ran is None:
            return []
        data, offset = ran
        if not data["count"]:
            return [empty]
        lines = [intro(data["count"])]
        for item in data["items"][:MAX_LIST_SHOWN]:
            parts = [part for part in details(item) if part]
            lines.append(
                f"- **{_md(item['name'])}**"
                + (f" — {', '.join(parts)}" if parts else "")
                + self.mark(offset, item["cite"])
            )
        lines.append(self._more(data))
        return lines

    def _more(self, data: dict) -> str:
        hidden = data["count"] - min(data["shown"], MAX_LIST_SHOWN)
        if hidden <= 0:
            return ""
        return ngettext("…and %(count)d more.", "…and %(count)d more.", hidden) % {"count": hidden}

    @staticmethod
    def _dated(template: str, day: str | None) -> str:
        return template % {"date": format_date(day)} if day else ""

    def _answer_medications(self) -> None:
        active_only = self.question.active_only
        lines = self._list(
            "medications",
            {"active_only": active_only},
            empty=_("Your health space lists no current medication.")
            if active_only
            else _("Your health space lists no medication."),
            intro=lambda count: (
                (
                    ngettext(
                        "Your records list %(count)d current medication:",
                        "Your records list %(count)d current medications:",
                        count,
                    )
                    if active_only
                    else ngettext(
                        "Your records list %(count)d medication, current and past:",
                        "Your records list %(count)d medications, current and past:",
                        count,
                    )
                )
                % {"count": count}
            ),
            details=lambda item: [
                _md(item["dosage_text"]),
                self._dated(_("since %(date)s"), item["started"]),
                self._dated(_("stopped on %(date)s"), item["ended"]),
            ],
        )
        if len(lines) > 1:
            lines.append(
                _("This list comes from your records: your doctor or pharmacist can confirm what you take today.")
            )
        self.say(*lines)

    def _answer_allergies(self) -> None:
        empty = _(
            "Your health space lists no allergy. An allergy that was never recorded here would not show: your "
            "doctor's file may know more."
        )
        lines = self._list(
            "allergies",
            {},
            empty=empty,
            intro=lambda count: (
                ngettext(
                    "Your records list %(count)d allergy or intolerance:",
                    "Your records list %(count)d allergies or intolerances:",
                    count,
                )
                % {"count": count}
            ),
            details=lambda item: [
                _md(item["category_text"]),
                _md(item["reaction_text"]),
                _("criticality: %(level)s") % {"level": _md(item["criticality_text"])}
                if item["criticality_text"]
                else "",
                self._dated(_("recorded on %(date)s"), item["recorded"]),
            ],
        )
        self.say(*lines)

    def _answer_conditions(self) -> None:
        active_only = self.question.active_only
        lines = self._list(
            "conditions",
            {"active_only": active_only},
            empty=_("Your health space lists no active condition.")
            if active_only
            else _("Your health space lists no condition."),
            intro=lambda count: (
                (
                    ngettext(
                        "Your records list %(count)d active condition:",
                        "Your records list %(count)d active conditions:",
                        count,
                    )
                    if active_only
                    else ngettext(
                        "Your records list %(count)d condition, active and resolved:",
                        "Your records list %(count)d conditions, active and resolved:",
                        count,
                    )
                )
                % {"count": count}
            ),
            details=lambda item: [
                self._dated(_("since %(date)s"), item["since"]),
                self._dated(_("resolved on %(date)s"), item["resolved"]),
            ],
        )
        self.say(*lines)

    def _answer_immunizations(self) -> None:
        ran = self.tool("immunizations", {})
        if ran is None:
            return
        data, offset = ran
        if not data["count"]:
            self.say(_("Your health space lists no immunisation."))
            return
        lines = [
            ngettext(
                "Your records list %(count)d immunisation:",
                "Your records list %(count)d immunisations:",
                data["count"],
            )
            % {"count": data["count"]}
        ]
        for vaccine in data["vaccines"][:MAX_LIST_SHOWN]:
            doses = ngettext("%(count)d dose", "%(count)d doses", vaccine["doses"]) % {"count": vaccine["doses"]}
            latest = _("latest on %(date)s") % {"date": format_date(vaccine["latest"])} if vaccine["latest"] else ""
            lines.append(
                f"- **{_md(vaccine['name'])}** — {doses}"
                + (f", {latest}" if latest else "")
                + self.mark(offset, vaccine["cite"])
            )
        self.say(*lines)

    # -- changes, summaries, visits, search ---------------------------------------------------------------

    def _since(self) -> datetime.date:
        question = self.question
        if question.since is not None:
            return question.since
        if question.period is not None:
            return question.period.start
        return timezone.localdate() - datetime.timedelta(days=DEFAULT_CHANGES_DAYS - 1)

    def _answer_changes(self) -> None:
        ran = self.tool("changes_since", {"date": self._since().isoformat()})
        if ran is None:
            return
        data, offset = ran
        since = format_date(data["since"])
        if not data["total"] and not data["series"]:
            self.say(_("Nothing dated %(date)s or later is in your health space.") % {"date": since})
            return
        lines = [
            ngettext(
                "Since %(date)s, %(count)d record dated that day or later is in your health space:",
                "Since %(date)s, %(count)d records dated that day or later are in your health space:",
                data["total"],
            )
            % {"date": since, "count": data["total"]}
        ]
        lines += self._kind_lines(data, offset)
        self.say(*lines)

    def _kind_lines(self, data: dict, offset: int, per_kind: int = 3) -> list[str]:
        lines = []
        for kind in data["kinds"]:
            names = []
            for item in kind["items"][:per_kind]:
                value = f" {_md(item['value_text'])}" if item.get("value_text") else ""
                names.append(
                    f"{_md(item['name'])}{value} ({format_date(item['date'])})" + self.mark(offset, item["cite"])
                )
            more = kind["count"] - len(names)
            tail = (", " + ngettext("%(count)d more", "%(count)d more", more) % {"count": more}) if more > 0 else ""
            label = kind["label"][:1].upper() + kind["label"][1:]
            heading = _("**%(kind)s** (%(count)d):") % {"kind": label, "count": kind["count"]}
            lines.append(f"- {heading} " + "; ".join(names) + tail)
        if data["series"]:
            parts = [
                ngettext("%(label)s (%(days)d day)", "%(label)s (%(days)d days)", item["days"])
                % {"label": item["label"], "days": item["days"]}
                for item in data["series"]
            ]
            lines.append(_("- New days of measurements: %(list)s.") % {"list": ", ".join(parts)})
        return lines

    def _answer_summary(self) -> None:
        days = self.question.period.days if self.question.period is not None else DEFAULT_CHANGES_DAYS
        ran = self.tool("recent_summary", {"days": days})
        if ran is None:
            return
        data, offset = ran
        period = data["period"]
        self.say(
            ngettext("**Your last %(days)d day**", "**Your last %(days)d days**", period["days"])
            % {"days": period["days"]}
            + f" ({self._period_words(period)})"
        )
        titles = {
            "activity": _("Activity"),
            "sleep": _("Sleep"),
            "heart": _("Heart"),
            "body": _("Body measurements"),
            "other": _("Other measurements"),
        }
        empty = True
        for section, title in titles.items():
            summaries = data[section]
            if not summaries:
                continue
            empty = False
            lines = [f"**{title}**"]
            for summary in summaries:
                lines.append(self._summary_line(summary, offset))
            if section == "activity":
                lines.append(self._memory_note())
            self.say(*lines)
        records = data["new_records"]
        if records["total"]:
            empty = False
            lines = [
                ngettext(
                    "**New records**: %(count)d dated in this period.",
                    "**New records**: %(count)d dated in this period.",
                    records["total"],
                )
                % {"count": records["total"]}
            ]
            self.say(*lines, *self._kind_lines({**records, "series": []}, offset, per_kind=2))
        if empty:
            self.say(_("I found no data in your health space for this period."))

    def _summary_line(self, summary: dict, offset: int) -> str:
        metric, unit, stats = summary["metric"], summary["unit"], summary["stats"]
        decimals = self._decimals(summary)
        label = summary["label"][:1].upper() + summary["label"][1:]
        params = {
            "label": label,
            "mean": self._value(stats["mean"], unit, decimals, metric),
            "min": self._value(stats["min"], unit, decimals, metric),
            "max": self._value(stats["max"], unit, decimals, metric),
            "days": stats["days_with_data"],
        }
        if metric == "sleep":
            text = ngettext(
                "- %(label)s: **%(mean)s** asleep a night on average, from %(min)s to %(max)s (%(days)d night)",
                "- %(label)s: **%(mean)s** asleep a night on average, from %(min)s to %(max)s (%(days)d nights)",
                stats["days_with_data"],
            )
        elif metric in SUM_METRICS:
            text = ngettext(
                "- %(label)s: **%(mean)s** a day on average, from %(min)s to %(max)s (%(days)d day with data)",
                "- %(label)s: **%(mean)s** a day on average, from %(min)s to %(max)s (%(days)d days with data)",
                stats["days_with_data"],
            )
        elif summary["latest"] is not None and metric in LAST_METRICS:
            params["latest"] = self._value(summary["latest"]["value"], unit, decimals, metric)
            params["date"] = format_date(summary["latest"]["date"])
            text = ngettext(
                "- %(label)s: latest **%(latest)s** on %(date)s; from %(min)s to %(max)s (%(days)d day with data)",
                "- %(label)s: latest **%(latest)s** on %(date)s; from %(min)s to %(max)s (%(days)d days with data)",
                stats["days_with_data"],
            )
        else:
            text = ngettext(
                "- %(label)s: average **%(mean)s**, from %(min)s to %(max)s (%(days)d day with data)",
                "- %(label)s: average **%(mean)s**, from %(min)s to %(max)s (%(days)d days with data)",
                stats["days_with_data"],
            )
        cites = list(stats["cite"][:MAX_MARKS])
        if summary["latest"] is not None:
            cites.append(summary["latest"]["cite"])
        line = text % params + self.mark(offset, cites)
        if stats["direction"] in ("up", "down", "stable") and stats["trend"]:
            line += f" — {stats['trend']}"
        return line

    def _answer_visit(self) -> None:
        reason = self.question.reason
        ran = self.tool("visit_preparation", {"reason": reason} if reason else {})
        if ran is None:
            return
        data, offset = ran
        if reason:
            self.say(_("**Preparing your visit** (%(reason)s)") % {"reason": _md(reason)})
        else:
            self.say(_("**Preparing your visit**"))
        sections = [
            (_("Active conditions"), data["conditions"], lambda item: _md(item["name"])),
            (
                _("Current medications"),
                data["medications"],
                lambda item: _md(item["name"]) + (f" — {_md(item['dosage_text'])}" if item["dosage_text"] else ""),
            ),
            (_("Allergies"), data["allergies"], lambda item: _md(item["name"])),
        ]
        for title, items, describe in sections:
            if not items:
                self.say(f"**{title}**: " + _("none recorded."))
                continue
            lines = [f"**{title}**"]
            lines += [f"- {describe(item)}" + self.mark(offset, item["cite"]) for item in items[:MAX_LIST_SHOWN]]
            self.say(*lines)
        if data["labs_out_of_range"]:
            title = _("Lab results outside their reference range")
            lines = [f"**{title}**"]
            for item in data["labs_out_of_range"]:
                decimals = trends.value_decimals([item["value"]]) if item["value"] is not None else 0
                value = (
                    shown(item["value"], item["unit"], decimals)
                    if item["value"] is not None
                    else _md(item["value_text"])
                )
                words = self._flag_words(item["flag"], item["reference"], item["unit"], decimals)
                lines.append(f"- {self._lab_line(item, value)} — {words}" + self.mark(offset, item["cite"]))
            self.say(*lines)
        if data["labs_recent"]:
            title = _("Recent lab results")
            lines = [f"**{title}**"]
            for item in data["labs_recent"][:8]:
                decimals = trends.value_decimals([item["value"]]) if item["value"] is not None else 0
                value = (
                    shown(item["value"], item["unit"], decimals)
                    if item["value"] is not None
                    else _md(item["value_text"])
                )
                lines.append(f"- {self._lab_line(item, value)}" + self.mark(offset, item["cite"]))
            self.say(*lines)
        if data["questions"]:
            title = _("Questions you could ask")
            lines = [f"**{title}**"]
            lines += [
                f"{number}. {_md(item['text'])}" + self.mark(offset, item["cite"])
                for number, item in enumerate(data["questions"], start=1)
            ]
            self.say(*lines)
        self.say(_("Bring your list of medications (or their boxes) and any recent results to the visit."))

    @staticmethod
    def _lab_line(item: dict, value: str) -> str:
        return _("%(test)s: %(value)s (%(date)s)") % {
            "test": _md(item["name"]),
            "value": value,
            "date": format_date(item["date"]),
        }

    def _answer_search(self) -> None:
        ran = self.tool("search_records", {"query": _md(self.question.search)})
        if ran is None:
            return
        data, offset = ran
        if not data["count"]:
            self.say(_("I found no record mentioning “%(query)s”.") % {"query": _md(self.question.search)})
            return
        lines = [
            ngettext(
                "I found %(count)d record mentioning “%(query)s”:",
                "I found %(count)d records mentioning “%(query)s”:",
                data["count"],
            )
            % {"count": data["count"], "query": _md(self.question.search)}
        ]
        for item in data["items"]:
            date = f", {format_date(item['date'])}" if item["date"] else ""
            snippet = f" — {_md(item['snippet_text'])}" if item["snippet_text"] else ""
            lines.append(
                f"- **{item['name']}** ({item['kind_label']}{date}){snippet}" + self.mark(offset, item["cite"])
            )
        lines.append(self._more(data))
        self.say(*lines)

    # -- insurance and costs ------------------------------------------------------------------------------

    @staticmethod
    def _money(value, currency: str) -> str:
        return insurance.money(None if value is None else Decimal(str(value)), currency)

    def _answer_costs(self) -> None:
        ran = self.tool("insurance_costs", self._period_arguments(DEFAULT_COSTS_DAYS))
        if ran is None:
            return
        data, offset = ran
        period = data["period"]
        if not data["count"]:
            self.say(
                _("Your health space has no claim or explanation of benefit dated %(period)s.")
                % {"period": self._period_words(period)}
            )
            return
        lines = []
        for total in data["totals"]:
            cites = [
                item["cite"] for item in data["items"] if item["currency"] == total["currency"] and item["answered"]
            ]
            money = lambda value, currency=total["currency"]: self._money(value, currency)  # noqa: E731
            if total["visits"]:
                lines.append(
                    _first_upper(self._period_words(period))
                    + ", "
                    + ngettext(
                        "%(count)d visit was billed %(billed)s: your insurer paid %(paid)s and you owed %(owed)s.",
                        "%(count)d visits were billed %(billed)s: your insurer paid %(paid)s and you owed %(owed)s.",
                        total["visits"],
                    )
                    % {
                        "count": total["visits"],
                        "billed": money(total["billed"]),
                        "paid": money(total["insurer_paid"]),
                        "owed": money(total["patient_owed"]),
                    }
                    + self.mark(offset, cites)
                )
                lines.append(
                    _("What you owed: deductible %(deductible)s, co-pays %(copay)s, co-insurance %(coinsurance)s.")
                    % {
                        "deductible": money(total["deductible"]),
                        "copay": money(total["copay"]),
                        "coinsurance": money(total["coinsurance"]),
                    }
                )
            if total["unanswered_claims"]:
                lines.append(
                    ngettext(
                        "%(count)d more claim, billed %(billed)s, has no answer from the insurer yet.",
                        "%(count)d more claims, billed %(billed)s, have no answer from the insurer yet.",
                        total["unanswered_claims"],
                    )
                    % {"count": total["unanswered_claims"], "billed": money(total["unanswered_billed"])}
                )
        for item in data["items"][:MAX_LIST_SHOWN]:
            money = lambda value, currency=item["currency"]: self._money(value, currency)  # noqa: E731
            if item["answered"]:
                detail = _("billed %(billed)s, insurer paid %(paid)s, you owed %(owed)s") % {
                    "billed": money(item["billed"]),
                    "paid": money(item["insurer_paid"]),
                    "owed": money(item["patient_owed"] or 0),
                }
            else:
                detail = _("billed %(billed)s, not answered by the insurer yet") % {"billed": money(item["billed"])}
            lines.append(
                f"- **{_md(item['name'])}** ({format_date(item['date'])}) — {detail}" + self.mark(offset, item["cite"])
            )
        lines.append(self._more(data))
        lines.append(_("These amounts come from your insurers' documents; their own statements remain the reference."))
        self.say(*lines)

    def _answer_deductible(self) -> None:
        ran = self.tool("insurance_coverage", {})
        if ran is None:
            return
        data, offset = ran
        if not data["count"]:
            self.say(
                _(
                    "Your health space has no insurance plan. Add yours with its deductible on the Insurance and "
                    "costs page, and I can tell you how much of it your visits used."
                )
            )
            return
        lines = []
        for plan in data["items"][:MAX_LIST_SHOWN]:
            money = lambda value, currency=plan["currency"]: self._money(value, currency)  # noqa: E731
            year = _("plan year from %(start)s to %(end)s") % {
                "start": format_date(plan["plan_year"]["start"]),
                "end": format_date(plan["plan_year"]["end"]),
            }
            lines.append(f"**{_md(plan['name'])}** ({year})" + self.mark(offset, plan["cite"]))
            if plan["deductible"] is None and plan["out_of_pocket_max"] is None:
                lines.append("- " + _("No deductible or out-of-pocket maximum is recorded for this plan."))
                continue
            marks = self.mark(offset, plan["visit_cites"])
            if plan["deductible"] is not None:
                lines.append(
                    "- "
                    + _("Deductible %(deductible)s: %(met)s met, %(left)s left.")
                    % {
                        "deductible": money(plan["deductible"]),
                        "met": money(plan["deductible_met"]),
                        "left": money(plan["deductible_left"]),
                    }
                    + marks
                )
            if plan["out_of_pocket_max"] is not None:
                lines.append(
                    "- "
                    + _("Out-of-pocket maximum %(maximum)s: %(spent)s spent, %(left)s left.")
                    % {
                        "maximum": money(plan["out_of_pocket_max"]),
                        "spent": money(plan["out_of_pocket_spent"]),
                        "left": money(plan["out_of_pocket_left"]),
                    }
                    + marks
                )
        lines.append(
            _(
                "Counted from the explanations of benefit dated in the plan year; a visit your insurer has not "
                "processed yet is not in them."
            )
        )
        self.say(*lines)

    # -- care habits --------------------------------------------------------------------------------------

    def _habit_weeks(self) -> int:
        period = self.question.period
        return max(1, -(-period.days // 7)) if period is not None else DEFAULT_HABIT_WEEKS

    @staticmethod
    def _month(value: str | None) -> str:
        if not value:
            return ""
        return dateformat.format(datetime.date.fromisoformat(f"{value}-01"), "F Y")

    def _answer_vaccines_due(self) -> None:
        ran = self.tool("vaccinations_due", {})
        if ran is None:
            return
        data, offset = ran
        if data["schedule"] is None or not data["birth_date_known"]:
            self.say(
                _(
                    "To read your immunisations against a vaccination schedule, HealthSpace needs your country and "
                    "your date of birth: you can add them to your profile."
                )
            )
            return
        due = [item for item in data["items"] if item["status"] in ("overdue", "due")]
        lines = [
            _("According to the %(schedule)s and the immunisations in your records:") % {"schedule": data["schedule"]}
        ]
        if due:
            lines.append(_("**To discuss with your clinician**"))
        for item in due:
            state = _("recorded as overdue") if item["status"] == "overdue" else _("recorded as due")
            if item["doses_recorded"]:
                doses = ngettext(
                    "%(count)d dose recorded, the latest on %(date)s",
                    "%(count)d doses recorded, the latest on %(date)s",
                    item["doses_recorded"],
                ) % {"count": item["doses_recorded"], "date": format_date(item["last_dose"])}
            else:
                doses = _("no dose recorded here")
            lines.append(f"- **{item['label']}** — {state}; {doses}" + self.mark(offset, item.get("cite")))
        if not due:
            lines.append(_("Nothing the schedule lists for your age is recorded as due."))
        current = [item for item in data["items"] if item["status"] == "up_to_date"]
        if current:
            parts = []
            for item in current:
                part = item["label"]
                if item["next_month"]:
                    part += " (" + _("next from %(month)s") % {"month": self._month(item["next_month"])} + ")"
                parts.append(part + self.mark(offset, item.get("cite")))
            lines.append(_("Up to date according to your records: %(list)s.") % {"list": "; ".join(parts)})
        later = [item for item in data["items"] if item["status"] == "later"]
        if later:
            parts = [
                _("%(vaccine)s from %(month)s") % {"vaccine": item["label"], "month": self._month(item["from_month"])}
                for item in later
            ]
            lines.append(_("Later: %(list)s.") % {"list": "; ".join(parts)})
        self.say(*lines)
        self.say(
            _(
                "Records often miss doses given elsewhere or long ago: your vaccination booklet or your clinician can "
                "confirm what you have had."
            )
        )

    def _answer_preventive(self) -> None:
        ran = self.tool("preventive_topics", {})
        if ran is None:
            return
        data, _offset = ran
        if data["recommendations"] is None or data["age_years"] is None:
            self.say(
                _(
                    "To list the screenings recommended at your age, HealthSpace needs your country and your date of "
                    "birth: you can add them to your profile."
                )
            )
            return
        if not data["items"]:
            self.say(_("None of these recommendations lists a topic for your age."))
            return
        lines = [
            _("Public recommendations (%(source)s) list these topics at your age, to discuss with your clinician:")
            % {"source": data["recommendations"]}
        ]
        for item in data["items"]:
            label = f"**{item['label']}**"
            if item["if_it_applies"]:
                label += " (" + _("if this applies to you") + ")"
            if item["status"] == "done":
                state = _("marked done on %(date)s") % {"date": format_date(item["last_done"])}
            elif item["last_done"]:
                state = _("last marked done on %(date)s; usually %(interval)s") % {
                    "date": format_date(item["last_done"]),
                    "interval": item["interval"],
                }
            else:
                state = _("usually %(interval)s") % {"interval": item["interval"]}
            lines.append(f"- {label} — {item['what']} ({state})")
        self.say(*lines)
        self.say(_("You can mark a topic done, with its date, on the preventive care page."))

    def _answer_adherence(self) -> None:
        ran = self.tool("medication_adherence", {})
        if ran is None:
            return
        data, offset = ran
        if not data["items"]:
            self.say(_("Your records list no current medication."))
            return
        lines = [_("What your dose log says for your current medications:")]
        logged_any = False
        for item in data["items"]:
            parts = []
            for days in (30, 90):
                window = item[f"last_{days}_days"]
                if not window["doses_logged"]:
                    continue
                logged_any = True
                # Each number governs its own plural, so the sentence is built from three pieces.
                period = ngettext("last %(days)d day", "last %(days)d days", window["days"]) % {"days": window["days"]}
                doses = ngettext(
                    "%(taken)d taken of %(count)d dose logged (%(percent)d %%)",
                    "%(taken)d taken of %(count)d doses logged (%(percent)d %%)",
                    window["doses_logged"],
                ) % {"taken": window["taken"], "count": window["doses_logged"], "percent": window["taken_percent"]}
                logged = ngettext(
                    "on %(logged)d day of %(days)d", "on %(logged)d days of %(days)d", window["days_with_a_log"]
                ) % {"logged": window["days_with_a_log"], "days": window["days"]}
                parts.append(
                    _("%(period)s: %(doses)s, %(logged)s") % {"period": period, "doses": doses, "logged": logged}
                )
            detail = "; ".join(parts) if parts else _("no dose logged in the last 90 days")
            lines.append(f"- **{_md(item['name'])}** — {detail}" + self.mark(offset, item["cite"]))
        self.say(*lines)
        if not logged_any:
            self.say(_("You can log doses as taken or skipped on the medication routine page, or tell me here."))
        else:
            self.say(
                _(
                    "These figures describe your log; questions about your treatment are for the person who "
                    "prescribes it."
                )
            )

    def _say_habit(self, name: str, arguments: dict) -> None:
        ran = self.tool(name, arguments)
        if ran is None:
            return
        data, offset = ran
        self.say(data["summary"] + self.mark(offset, data.get("cite")))

    def _answer_sleep_regularity(self) -> None:
        self._say_habit("sleep_regularity", {"weeks": self._habit_weeks()})

    def _answer_activity_days(self) -> None:
        arguments = {"weeks": self._habit_weeks()}
        if self.question.steps:
            arguments["steps"] = max(self.question.steps, 1000)
        self._say_habit("activity_days", arguments)

    def _answer_nutrition(self) -> None:
        self._say_habit("nutrition", {"weeks": self._habit_weeks()})

    # -- what the data cannot answer ----------------------------------------------------------------------

    def _answer_advice(self) -> None:
        self.say(
            _(
                "I can't answer this from your records. Starting, stopping or changing a medicine or its dose is a "
                "decision to make with the person who prescribes it, and this assistant does not give treatment "
                "advice."
            )
        )
        self.say(
            _("You could ask your doctor or pharmacist:"),
            "- " + _("Is my current treatment, at this dose, still right for me?"),
            "- " + _("What should I do if I miss a dose or notice a side effect?"),
            "- " + _("Which results or measurements would lead you to change my treatment?"),
        )
        self.say(_("I can show you the medications, results and measurements in your records if that helps."))

    def _answer_diagnosis(self) -> None:
        self.say(
            _(
                "I can't tell you whether you have an illness or what a symptom is: only a clinician who can "
                "examine you can answer that. I can only show what your records contain."
            )
        )
        self.say(
            _("You could ask your doctor:"),
            "- " + _("What could explain what I am noticing, and does it need an examination or tests?"),
            "- " + _("Which of my results or measurements should we look at together?"),
            "- " + _("Which signs should make me seek care quickly?"),
        )
        self.say(_("If you feel very unwell or the symptoms are sudden or severe, call your local emergency number."))

    def _answer_unknown(self) -> None:
        self.say(
            _("I answer questions about the data in your health space, for example:"),
            "- " + _("What is my latest weight?"),
            "- " + _("How has my resting heart rate changed over the last 3 months?"),
            "- " + _("What was my last HbA1c?"),
            "- " + _("Which medications am I taking?"),
            "- " + _("What changed since March 1?"),
            "- " + _("Summarise my last 30 days."),
            "- " + _("Help me prepare my visit with my cardiologist."),
        )


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def _md(text: str) -> str:
    """Text from the records shown as itself: Markdown's special characters escaped, line breaks flattened."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
