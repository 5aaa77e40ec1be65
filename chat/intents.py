"""Reading a patient's question for the offline engine: its language, the period it names, what it asks for.

Rules on normalised text (`vocabulary.normalise`: lower case, no accents), in English and French. No
model and no network: the same question always reads the same way. What the question asks is a list
of intents; questions the data cannot answer (advice on a treatment, a diagnosis) are recognised first.
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass, field

from . import vocabulary
from .vocabulary import LabTerm

# -- language ---------------------------------------------------------------------------------------------

_FRENCH_WORDS = frozenset(
    [
        "le",
        "la",
        "les",
        "mon",
        "ma",
        "mes",
        "du",
        "des",
        "est",
        "quel",
        "quels",
        "quelle",
        "quelles",
        "depuis",
        "je",
        "j",
        "ai",
        "suis",
        "mois",
        "jours",
        "derniers",
        "dernier",
        "derniere",
        "dernieres",
        "semaine",
        "annee",
        "cette",
        "comment",
        "pour",
        "avec",
        "que",
        "quoi",
        "qu",
        "resume",
        "resumer",
        "prends",
        "evolue",
        "sur",
        "dans",
        "et",
        "un",
        "une",
        "ce",
        "ces",
        "combien",
        "aide",
        "moi",
        "preparer",
        "prepare",
        "mes",
        "sont",
        "ete",
        "mon",
        "votre",
        "vos",
        "ai-je",
        "dois-je",
        "puis-je",
        "est-ce",
        "medicaments",
        "vaccins",
        "allergique",
        "allergiques",
        "quels",
        "quoi",
        "neuf",
        "rendez-vous",
        "chez",
        "tension",
        "poids",
        "sommeil",
        "pas",
        "combien",
        "coute",
        "coutent",
        "franchise",
        "reste-t-il",
    ]
)
_ENGLISH_WORDS = frozenset(
    [
        "the",
        "my",
        "what",
        "is",
        "how",
        "has",
        "have",
        "since",
        "last",
        "past",
        "am",
        "i",
        "do",
        "did",
        "any",
        "of",
        "over",
        "to",
        "for",
        "with",
        "and",
        "are",
        "me",
        "changed",
        "latest",
        "weeks",
        "days",
        "months",
        "help",
        "prepare",
        "should",
        "which",
        "taking",
        "take",
        "allergic",
        "summarise",
        "summarize",
        "anything",
        "this",
        "year",
        "week",
        "month",
        "visit",
        "weight",
        "sleep",
        "been",
        "was",
        "were",
        "can",
        "you",
        "show",
        "find",
        "new",
        "most",
        "recent",
    ]
)
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z]+)*")


def language_of(text: str, default: str) -> str:
    """ "fr" or "en": the question's language when it is plainly one of them, else `default`."""
    words = _WORD.findall(vocabulary.normalise(text).replace("'", " "))
    french = sum(word in _FRENCH_WORDS for word in words)
    english = sum(word in _ENGLISH_WORDS for word in words)
    french += min(2, sum(char in "éèêàâçùûîôœ" for char in text.lower()))
    if french >= 2 and french > 2 * english:
        return "fr"
    if english >= 2 and english > 2 * french:
        return "en"
    return default if default in ("en", "fr") else "en"


# -- periods and dates ------------------------------------------------------------------------------------

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "couple": 2,
    "few": 3,
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    "onze": 11,
    "douze": 12,
    "quelques": 3,
}
_UNITS = {
    "day": "d",
    "days": "d",
    "jour": "d",
    "jours": "d",
    "week": "w",
    "weeks": "w",
    "semaine": "w",
    "semaines": "w",
    "month": "m",
    "months": "m",
    "mois": "m",
    "year": "y",
    "years": "y",
    "an": "y",
    "ans": "y",
    "annee": "y",
    "annees": "y",
}
_MONTHS = {
    "january": 1,
    "jan": 1,
    "janvier": 1,
    "february": 2,
    "feb": 2,
    "fevrier": 2,
    "march": 3,
    "mar": 3,
    "mars": 3,
    "april": 4,
    "apr": 4,
    "avril": 4,
    "may": 5,
    "mai": 5,
    "june": 6,
    "jun": 6,
    "juin": 6,
    "july": 7,
    "jul": 7,
    "juillet": 7,
    "august": 8,
    "aug": 8,
    "aout": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "septembre": 9,
    "october": 10,
    "oct": 10,
    "octobre": 10,
    "november": 11,
    "nov": 11,
    "novembre": 11,
    "december": 12,
    "dec": 12,
    "decembre": 12,
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + ")"
_N = r"(\d{1,4}|[a-z]+)"
_UNIT = r"(days?|weeks?|months?|years?|jours?|semaines?|mois|ans|annees?)"

_RELATIVE = [
    # "last week", "past 6 months", "over the last 3 months", "in the past two weeks"
    re.compile(rf"\b(?:last|past|previous|recent)\s+(?:{_N}\s+)?{_UNIT}\b"),
    # "30 derniers jours", "6 derniers mois", "trois dernières semaines", "la dernière année"
    re.compile(rf"\b(?:{_N}\s+)?(?:derniers|dernieres|derniere|dernier|passes|passees)\s+{_UNIT}\b"),
    # "les 3 mois derniers", "la semaine dernière", "le mois passé", "l'année dernière"
    re.compile(
        rf"\b(?:les\s+{_N}\s+|la\s+|le\s+|l')?{_UNIT}\s+(?:derniers|dernieres|derniere|dernier|passes|passees|passe|passee)\b"
    ),
    # "depuis 3 mois", "over 30 days", "sur 6 mois", "for two weeks", "en 3 mois"
    re.compile(rf"\b(?:depuis|over|sur|for|durant|pendant)\s+(?:les\s+)?{_N}\s+{_UNIT}\b"),
]
_SINCE = r"(?:since|depuis|from|a partir du|a partir de|a compter du)"
_SINCE_PATTERNS = [
    ("iso", re.compile(rf"\b{_SINCE}\s+(?:le\s+)?(\d{{4}})-(\d{{1,2}})-(\d{{1,2}})\b")),
    ("slash", re.compile(rf"\b{_SINCE}\s+(?:le\s+)?(\d{{1,2}})/(\d{{1,2}})/(\d{{4}})\b")),
    (
        "day_month",
        re.compile(
            rf"\b{_SINCE}\s+(?:the\s+|le\s+)?(\d{{1,2}})(?:st|nd|rd|th|er)?\s+(?:of\s+)?{_MONTH}\b(?:\s+(\d{{4}}))?"
        ),
    ),
    ("month_day", re.compile(rf"\b{_SINCE}\s+{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?")),
    ("month", re.compile(rf"\b{_SINCE}\s+(?:le mois de\s+|(?:the )?start of\s+|debut\s+)?{_MONTH}\b(?:\s+(\d{{4}}))?")),
    ("year", re.compile(rf"\b{_SINCE}\s+(?:l'an\s+|l'annee\s+|the year\s+)?((?:19|20)\d\d)\b")),
]
_THIS = [
    (re.compile(r"\b(?:this year|cette annee|depuis le debut de l'annee|so far this year)\b"), "year"),
    (re.compile(r"\b(?:this month|ce mois-ci|ce mois)\b"), "month"),
    (re.compile(r"\b(?:this week|cette semaine)\b"), "week"),
    (re.compile(r"\b(?:today|aujourd'hui)\b"), "day"),
]
_IN_YEAR = re.compile(r"\b(?:in|en|during|pendant|durant)\s+((?:19|20)\d\d)\b")


@dataclass(frozen=True)
class Span:
    start: datetime.date
    end: datetime.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def months_back(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` calendar months earlier (the month's last day when it is shorter)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _count(text: str | None) -> int | None:
    if text is None:
        return 1
    if text.isdigit():
        return int(text)
    return _NUMBER_WORDS.get(text)


def _relative_span(count: int, unit: str, today: datetime.date) -> Span:
    """The last `count` days/weeks/months/years, today included."""
    if unit == "d":
        start = today - datetime.timedelta(days=count - 1)
    elif unit == "w":
        start = today - datetime.timedelta(days=7 * count - 1)
    elif unit == "m":
        start = months_back(today, count) + datetime.timedelta(days=1)
    else:
        start = months_back(today, 12 * count) + datetime.timedelta(days=1)
    return Span(start, today)


def _safe_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _without_year(month: int, day: int, today: datetime.date) -> datetime.date | None:
    """A date given without its year: this year's, or last year's when this year's is still to come."""
    date = _safe_date(today.year, month, day)
    if date is not None and date > today:
        date = _safe_date(today.year - 1, month, day)
    return date


def since_date(text: str, *, today: datetime.date, language: str) -> datetime.date | None:
    """The date after "since"/"depuis" in normalised text ("since March 1", "depuis le 1er mars 2024")."""
    for kind, pattern in _SINCE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        groups = match.groups()
        if kind == "iso":
            return _safe_date(int(groups[0]), int(groups[1]), int(groups[2]))
        if kind == "slash":
            first, second, year = int(groups[0]), int(groups[1]), int(groups[2])
            month, day = (first, second) if language == "en" else (second, first)
            return _safe_date(year, month, day)
        if kind == "day_month":
            day, month, year = int(groups[0]), _MONTHS[groups[1]], groups[2]
            return _safe_date(int(year), month, day) if year else _without_year(month, day, today)
        if kind == "month_day":
            month, day, year = _MONTHS[groups[0]], int(groups[1]), groups[2]
            return _safe_date(int(year), month, day) if year else _without_year(month, day, today)
        if kind == "month":
            month, year = _MONTHS[groups[0]], groups[1]
            return _safe_date(int(year), month, 1) if year else _without_year(month, 1, today)
        if kind == "year":
            return _safe_date(int(groups[0]), 1, 1)
    return None


def period_in(text: str, *, today: datetime.date, language: str) -> Span | None:
    """The period a question names in normalised text, ending today (or at the end of a named year)."""
    for pattern in _RELATIVE:
        match = pattern.search(text)
        if match:
            count = _count(match.group(1))
            unit = _UNITS.get(match.group(2))
            if count and unit:
                return _relative_span(count, unit, today)
    for pattern, what in _THIS:
        if pattern.search(text):
            if what == "year":
                return Span(datetime.date(today.year, 1, 1), today)
            if what == "month":
                return Span(today.replace(day=1), today)
            if what == "week":
                return Span(today - datetime.timedelta(days=today.weekday()), today)
            return Span(today, today)
    since = since_date(text, today=today, language=language)
    if since is not None and since <= today:
        return Span(since, today)
    match = _IN_YEAR.search(text)
    if match:
        year = int(match.group(1))
        if year <= today.year:
            return Span(datetime.date(year, 1, 1), min(datetime.date(year, 12, 31), today))
    return None


# -- what the question asks -------------------------------------------------------------------------------


def _any(patterns: list[str]) -> re.Pattern:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


_ASK_WORDS = (
    r"(?:ask|bring|mention|prepare|tell|say|show|know|expect|demander|apporter|preparer|dire|mentionner|savoir)"
)
ADVICE = _any(
    [
        rf"\bshould i\b(?!\s+{_ASK_WORDS})",
        r"\bshould we\b",
        r"\b(?:can|could|may|must) i (?:stop|start|take|skip|double|increase|decrease|reduce|lower|raise|change|switch"
        r"|combine|mix|drink|quit|cut)\b",
        r"\b(?:safe|ok|okay|fine|dangerous) to (?:take|stop|double|combine|mix|drink|skip|increase|reduce)\b",
        r"\b(?:double|triple|halve|increase|decrease|reduce|lower|raise|change|adjust|skip|stop|quit|cut)\b[^.?!]{0,30}"
        r"\b(?:dose|doses|dosage|medications?|medicines?|meds|pills?|tablets?|treatment|statin|insulin|prescription)\b",
        r"\bhow (?:much|many)\b[^.?!]{0,40}\b(?:should|can|may|must) i (?:take|have|use)\b",
        r"\bhow (?:much|many) (?:pills?|tablets?|capsules?|mg|milligrams?|doses?|units?)\b",
        r"\bcombien (?:de )?(?:comprimes?|cachets?|gelules?|mg|doses?)\b",
        r"\bwhat (?:should|can) i take\b",
        r"\b(?:do|would|can|could) you (?:recommend|prescribe|advise)\b",
        r"\bwhat do you (?:recommend|advise)\b",
        rf"\b(?:dois|devrais|puis)[- ]je\b(?!\s+(?:lui |leur )?{_ASK_WORDS})",
        r"\bfaut[- ]il\b",
        rf"\best[- ]ce que je (?:dois|devrais|peux|pourrais)\b(?!\s+(?:lui |leur )?{_ASK_WORDS})",
        r"\bje (?:dois|devrais|peux|pourrais) (?:arreter|prendre|doubler|augmenter|diminuer|baisser|changer|sauter"
        r"|reduire|stopper|commencer|continuer)\b",
        r"\b(?:doubler|tripler|augmenter|diminuer|baisser|reduire|arreter|changer|modifier|sauter|stopper|ajuster)\b"
        r"[^.?!]{0,40}\b(?:dose|doses|dosage|medicaments?|traitements?|comprimes?|cachets?|posologie|statine|insuline)\b",
        r"\bsans danger\b",
        r"\b(?:tu|vous) (?:me )?(?:conseill|recommand)\w*\b",
        r"\bque me (?:conseill|recommand)\w*\b",
    ]
)
DIAGNOSIS = _any(
    [
        r"\bdo i have\b",
        r"\bhave i got\b",
        r"\bam i (?:sick|ill|diabetic|prediabetic|pre-diabetic|anemic|anaemic|obese|at risk|in danger|healthy|normal"
        r"|ok|okay|dying)\b",
        r"\bis (?:it|this|that) (?:serious|dangerous|cancer|normal|bad|worrying|contagious)\b",
        r"\bwhat (?:is|s) (?:this|that|it)\b",
        r"\b(?:rash|lump|mole|bump|swelling|itch|itchy|hives|spots)\b",
        r"\bwhat(?: is|s)? wrong with me\b",
        r"\bwhat do i have\b",
        r"\bcould (?:it|this|that) be\b",
        r"\bdiagnos(?:e|is) (?:me|this|it|my)\b",
        r"\bcan you diagnos",
        r"\bai[- ]je (?:un|une|le|la|les|l'|du|de la|des)\b",
        r"\best[- ]ce que j'ai\b",
        r"\bsuis[- ]je (?:malade|diabetique|anemique|obese|en danger|normal)\b",
        r"\best[- ]ce que je suis (?:malade|diabetique|anemique)\b",
        r"\b(?:est[- ]ce|c'est|est ce) (?:grave|dangereux|normal|un cancer|inquietant|contagieux)\b",
        r"\bqu'est[- ]ce que (?:c'est|j'ai)\b",
        r"\bc'est quoi (?:ce|cette|ces|ca)\b",
        r"\b(?:boutons?|eruptions?|rougeurs?|plaques? rouges?|demangeaisons?|grosseur|bosse)\b",
        r"\bdiagnostiqu",
    ]
)
VISIT = _any(
    [
        r"\bprepar\w*\b[^.?!]{0,50}\b(?:visit|appointment|consultation|rendez-vous|rdv|check-?up|meeting|visite)\b",
        r"\b(?:visit|appointment|consultation|rendez-vous|rdv|visite)\b[^.?!]{0,50}\b(?:prepar\w*|ask|questions?)\b",
        r"\bwhat (?:should|can|could) i (?:ask|bring|mention)\b",
        r"\bquestions? (?:to ask|for my|a poser|pour mon|pour ma|pour le|pour la)\b",
        r"\b(?:que|quoi) (?:dois-je |puis-je |devrais-je )?demander\b",
        r"\bqu'est-ce que je (?:dois|peux|devrais) demander\b",
    ]
)
SUMMARY = _any(
    [
        r"\b(?:summar\w*|sum up|overview|recap\w*|resume[rsz]?|resumez|bilan|synthese|recapitul\w*)\b"
        r"(?!\s+(?:sanguin|lipidique|biologique))",
        r"\bhow (?:was|were|have been|has been) (?:my|the) (?:last|past)\b",
        r"\bcomment (?:se sont passes|s'est passe|ca s'est passe)\b",
    ]
)
CHANGES = _any(
    [
        r"\bwhat(?:'s| is| has)? (?:changed|new)\b",
        r"\bchang\w*\b[^.?!]{0,20}\bsince\b",
        r"\bnew (?:records?|results?|data|entries)\b",
        r"\bquoi de (?:neuf|nouveau)\b",
        r"\bqu'est-ce qui a change\b",
        r"\b(?:a|ont) change\b",
        r"\bnouveaux? (?:resultats?|documents?|donnees|enregistrements?)\b",
        r"\bnouveautes?\b",
        r"\bchangements?\b",
        r"\b(?:added|ajoute\w*)\b",
    ]
)
MEDICATIONS = _any(
    [
        r"\b(?:medications?|medicines?|meds|drugs?|pills?|prescriptions?|prescribed|tablets?)\b",
        r"\b(?:medicaments?|traitements?|ordonnances?|comprimes?)\b",
        r"\bje prends\b",
        r"\b(?:am i|i am|i'm) taking\b",
        r"\bdo i take\b",
        r"\bwhat (?:do|am) i tak",
    ]
)
PAST = re.compile(
    r"\b(?:past|previous|former|old|stopped|ever|history|historique|anciens?|anciennes?|passes?|arretes?|all time"
    r"|including stopped|y compris)\b"
)
ALLERGIES = re.compile(r"\b(?:allerg\w*|intoleran\w*)\b")
IMMUNIZATIONS = re.compile(r"\b(?:vaccin\w*|immuni[sz]\w*|shots?|jabs?|boosters?|rappels?)\b")
CONDITIONS = _any(
    [
        r"\b(?:conditions?|diagnoses|health problems?|medical history|problem list|illness(?:es)?|diseases?)\b",
        r"\b(?:maladies?|pathologies?|antecedents?|problemes? de sante)\b",
    ]
)
# Insurance: what care cost, and where the patient stands against the deductible or out-of-pocket maximum.
DEDUCTIBLE = _any(
    [
        r"\b(?:deductibles?|franchises?)\b",
        r"\bout[- ]of[- ]pocket (?:max\w*|limit|cap)\b",
        r"\b(?:plafond|maximum) (?:de |des )?(?:depenses|reste a charge|frais)\b",
    ]
)
COSTS = _any(
    [
        r"\b(?:cost|costs|costed|paid|pay|spend|spent|bills?|billed|owe|owed|charges?|charged|expenses?|claims?)\b",
        r"\b(?:insurance|insurer|out[- ]of[- ]pocket)\b",
        r"\b(?:cout\w*|paye\w*|depense\w*|factur\w*|rembours\w*|assurance|assureur|mutuelle|frais)\b",
        r"\breste a charge\b",
    ]
)
SEARCH = re.compile(
    r"\b(?:find|search(?: for)?|look (?:for|up)|records? (?:about|mentioning|with)|mentions? of|cherche\w*|"
    r"recherche\w*|trouve\w*|retrouve\w*)\s+(.+)"
)
_SEARCH_FILLER = re.compile(
    r"^(?:(?:for|me|my|the|a|an|any|all|records?|notes?|mentioning|about|with|of|dans|mon|ma|mes|le|la|les|des|"
    r"du|de|un|une|tous|toutes|dossiers?|enregistrements?|qui|parlent|mentionnent|ce|qui|concerne|sur|moi)\s+)+"
)
TREND = re.compile(
    r"\b(?:chang\w*|trend\w*|evol\w*|tendance\w*|average|averages|mean|moyenne\w*|progress\w*|over time|history|"
    r"historique|how (?:has|have|did|was|were)|varie\w*|going|went|been)\b"
)
_REASON = re.compile(
    r"\b(?:with|avec|chez|see|voir|to|a|for|pour)\s+(?:my|the|a|an|mon|ma|le|la|un|une|l'|mes)\s*"
    r"([a-z'][a-z' -]{2,60}?)(?=\s+(?:next|tomorrow|on|about|this|in|demain|la semaine|lundi|mardi|mercredi|jeudi"
    r"|vendredi|au sujet|pour|sur|le|en)\b|[.?!,;]|$)"
)
_VISIT_WORDS = re.compile(
    r"^(?:visit|appointment|consultation|rendez-vous|rdv|visite|next visit|prochaine visite|prochain rendez-vous)$"
)


# Care habits: what a vaccination schedule records as due, preventive topics, the dose log, habits over time.
VACCINES_DUE = _any(
    [
        r"\b(?:due|overdue|up to date|up-to-date|next|missing|behind|schedule|recommended|late)\b",
        r"\bshould i (?:get|have|do)\b",
        r"\b(?:a jour|en retard|a faire|prochains?|prochaines?|manqu\w*|calendrier|recommande\w*)\b",
        r"\b(?:dois|devrais)[- ]je (?:faire|avoir|recevoir)\b",
        r"\bfaut[- ]il\b",
    ]
)
SCREENING = re.compile(
    r"\b(?:screenings?|check-?ups?|mammograms?|colonoscop\w*|pap (?:smear|test)s?|preventive|prevention|"
    r"depistages?|bilan de prevention|mon bilan prevention|frottis|mammographies?|coloscopies?)\b"
)
ADHERENCE = _any(
    [
        r"\b(?:adherence|observance)\b",
        r"\b(?:miss|missed|skipped|forget|forgot|forgotten|missing)\b[^.?!]{0,30}\b(?:doses?|medications?|medicines?|meds|pills?"
        r"|tablets?)\b",
        r"\bdoses? (?:missed|skipped|taken|logged)\b",
        r"\bhow (?:regularly|often|consistently|well) (?:do|did|have) i (?:take|taken|took)\b",
        r"\b(?:oubli\w*|saute\w*|manque\w*)\b[^.?!]{0,30}\b(?:doses?|medicaments?|traitements?|comprimes?|prises?)\b",
        r"\b(?:regularite|regulierement)\b[^.?!]{0,30}\b(?:medicaments?|traitements?|prises?)\b",
        r"\b(?:medicaments?|traitements?)\b[^.?!]{0,30}\b(?:regularite|regulierement)\b",
    ]
)
SLEEP_REGULARITY = _any(
    [
        r"\b(?:regular|regularity|irregular|consistent|consistency)\b[^.?!]{0,30}\b(?:sleep|bedtime|sleeping)\b",
        r"\b(?:sleep|bedtime)\b[^.?!]{0,30}\b(?:regular|regularity|irregular|consistent|schedule)\b",
        r"\b(?:bedtime|bed time|go to bed|went to bed|going to bed|wake up|wake-up|woke up|waking up|get up)\b",
        r"\b(?:heures? (?:du|de) (?:coucher|lever|reveil)|je me couche|je me leve|je me reveille|me coucher|me lever"
        r"|horaires? de sommeil)\b",
        r"\b(?:regul\w*|irregul\w*)\b[^.?!]{0,30}\b(?:sommeil|coucher|nuits?)\b",
        r"\b(?:sommeil|nuits?)\b[^.?!]{0,30}\b(?:regul\w*|irregul\w*)\b",
    ]
)
ACTIVITY_DAYS = _any(
    [
        r"\bactive days?\b",
        r"\bdays? (?:was i |i was |i've been |have i been )?active\b",
        r"\bhow many days\b[^.?!]{0,40}\b(?:steps|active|walk\w*)\b",
        r"\bjours? actifs?\b",
        r"\bcombien de jours\b[^.?!]{0,40}\b(?:pas|actif\w*|actives?|marche\w*)\b",
    ]
)
NUTRITION = _any(
    [
        r"\b(?:nutrition|diet|macros?|macronutrients?|what i eat|what i ate|eating habits|food intake)\b",
        r"\b(?:alimentation|macronutriments?|ce que je mange|ce que j'ai mange|mes repas)\b",
    ]
)
_TREATMENT = re.compile(
    r"\b(?:statins?|statines?|insulin\w*|doses?|dosage|treatments?|traitements?|stop\w*|arret\w*|start\w*|"
    r"commenc\w*|quit\w*|skip\w*|saut\w*)\b"
)
_STEPS = re.compile(r"\b(\d{1,2}(?:[ ,.]\d{3})|\d{4,5})\s*(?:steps|pas)\b")


def care_intents_first(normalised: str, lists: list[str]) -> list[str]:
    """Care questions read before advice: "should I get the shingles vaccine?" asks what a schedule says."""
    if "medications" in lists or (ADVICE.search(normalised) and _TREATMENT.search(normalised)):
        return []  # "should I stop my statin before the colonoscopy?" is advice on a treatment
    found = []
    if "immunizations" in lists and VACCINES_DUE.search(normalised):
        found.append("vaccines_due")
    if SCREENING.search(normalised) and not VISIT.search(normalised):
        found.append("preventive")  # "help me prepare my check-up" is a visit
    return found


def care_intents(normalised: str) -> list[str]:
    """The habits a question asks about: adherence to the dose log, sleep regularity, active days, nutrition."""
    found = []
    if ADHERENCE.search(normalised):
        found.append("adherence")
    if SLEEP_REGULARITY.search(normalised):
        found.append("sleep_regularity")
    if ACTIVITY_DAYS.search(normalised):
        found.append("activity_days")
    if NUTRITION.search(normalised):
        found.append("nutrition")
    return found


def steps_threshold(normalised: str) -> int | None:
    """The number of steps a question names ("10,000 steps", "8 000 pas"), or None."""
    match = _STEPS.search(normalised)
    return int(re.sub(r"\D", "", match.group(1))) if match else None


@dataclass
class Question:
    """What the offline engine read in a question."""

    text: str
    normalised: str
    language: str
    intents: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    labs: list[LabTerm] = field(default_factory=list)
    period: Span | None = None
    since: datetime.date | None = None
    active_only: bool = True
    reason: str = ""
    search: str = ""
    trend: bool = False
    steps: int | None = None


def _reason(text: str) -> str:
    for match in _REASON.finditer(text):
        words = match.group(1).strip(" -'")
        if words and not _VISIT_WORDS.match(words) and not words.startswith(("visit", "rendez", "consult")):
            return words
    return ""


# Intents that answer on their own: a question that asks for one of these gets only it.
WHOLE_ANSWERS = ("advice", "visit", "summary", "changes")


def question_read(text: str, *, language: str, today: datetime.date) -> Question:
    """Read a question: its language, the period or date it names, and what it asks for (in order)."""
    normalised = vocabulary.normalise(text)
    question = Question(text=text, normalised=normalised, language=language_of(text, language))
    question.period = period_in(normalised, today=today, language=question.language)
    question.since = since_date(normalised, today=today, language=question.language)
    question.trend = bool(TREND.search(normalised)) or question.period is not None
    spans = vocabulary.lab_term_spans(normalised)
    question.labs = [term for _, _, term in spans]
    without_labs = normalised
    for start, end, _term in spans:
        without_labs = without_labs[:start] + " " * (end - start) + without_labs[end:]
    question.metrics = vocabulary.metrics_in(without_labs)
    if any(term.key == "glucose" for term in question.labs) and "blood_glucose" not in question.metrics:
        # Blood glucose may be a lab result or a meter's series: the engine tries the lab first.
        question.metrics.append("blood_glucose")
    lists = []
    if MEDICATIONS.search(normalised):
        lists.append("medications")
        question.active_only = not PAST.search(normalised)
    if ALLERGIES.search(normalised):
        lists.append("allergies")
    if IMMUNIZATIONS.search(normalised):
        lists.append("immunizations")
    if CONDITIONS.search(normalised):
        lists.append("conditions")
        question.active_only = question.active_only and not PAST.search(normalised)
    if DEDUCTIBLE.search(normalised):
        lists.append("deductible")
    elif COSTS.search(normalised):
        lists.append("costs")
    first = care_intents_first(normalised, lists)
    if first:
        question.intents = first
        return question
    if ADVICE.search(normalised):
        question.intents = ["advice"]
        return question
    if VISIT.search(normalised):
        question.intents = ["visit"]
        question.reason = _reason(normalised)
        return question
    care = care_intents(normalised)
    if care:
        question.intents = care
        question.steps = steps_threshold(normalised)
        return question
    if DIAGNOSIS.search(normalised) and not lists:
        question.intents = ["diagnosis"]
        if question.labs:
            question.intents.append("labs")
        if question.metrics:
            question.intents.append("metrics")
        return question
    # "Summarise my sleep", "how has my weight changed since March": the measurement, over the period.
    named = bool(lists or question.labs or question.metrics)
    if SUMMARY.search(normalised) and not named:
        question.intents = ["summary"]
        return question
    if (CHANGES.search(normalised) or question.since is not None) and not named:
        question.intents = ["changes"]
        return question
    question.intents = list(lists)
    if question.labs:
        question.intents.append("labs")
    if question.metrics:
        question.intents.append("metrics")
    if not question.intents:
        match = SEARCH.search(normalised)
        if match:
            query = _SEARCH_FILLER.sub("", match.group(1)).strip(" ?.!")
            if len(query) >= 2:
                question.intents = ["search"]
                question.search = query
    if not question.intents:
        question.intents = ["unknown"]
    return question
