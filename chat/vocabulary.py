"""The words patients use for their measurements and lab tests, in English and French.

Shared by the tools (which resolve a name such as "hémoglobine glyquée" to the patient's own test) and
the offline engine (which finds them in a question). Everything is matched on `normalise`d text:
lower case, without accents, single spaces. Nothing here is shown to the patient.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SPACES = re.compile(r"\s+")
# Kept inside words: hyphens (NT-proBNP, 25-OH), apostrophes (fraction d'éjection), dots and slashes (1.73, mg/dL).
_PUNCTUATION = re.compile(r"[^\w\s\-'./]")


def normalise(text: str) -> str:
    """Lower case, accents removed, typographic apostrophes straightened, punctuation and spaces collapsed."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("\u200b", "")
    text = _PUNCTUATION.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def find_phrase(phrase: str, text: str) -> re.Match | None:
    """Where a normalised phrase occurs in normalised text as whole words."""
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text)


# -- time-series metrics and vital signs --------------------------------------------------------------

# The words for each metric of `records.timeseries.METRICS`, plus "blood_pressure" (systolic and diastolic
# read together). Matched longest first, so "resting heart rate" is not also "heart rate".
METRIC_WORDS: dict[str, tuple[str, ...]] = {
    "weight": ("weight", "weigh", "body weight", "poids", "pese", "masse corporelle"),
    "bmi": ("bmi", "body mass index", "imc", "indice de masse corporelle"),
    "height": ("height", "how tall", "taille", "stature"),
    "body_fat": ("body fat", "fat percentage", "masse grasse", "graisse corporelle"),
    "resting_heart_rate": (
        "resting heart rate",
        "resting pulse",
        "resting hr",
        "frequence cardiaque au repos",
        "frequence cardiaque de repos",
        "pouls au repos",
        "rythme cardiaque au repos",
        "fc au repos",
        "fc de repos",
    ),
    "heart_rate_variability": (
        "heart rate variability",
        "hrv",
        "variabilite cardiaque",
        "variabilite de la frequence cardiaque",
    ),
    "heart_rate": ("heart rate", "pulse", "frequence cardiaque", "pouls", "rythme cardiaque"),
    "blood_pressure": ("blood pressure", "bp", "tension", "tension arterielle", "pression arterielle"),
    "blood_pressure_systolic": ("systolic", "systolique"),
    "blood_pressure_diastolic": ("diastolic", "diastolique"),
    "blood_glucose": ("blood glucose", "blood sugar", "glucose", "glycemie", "sucre dans le sang"),
    "oxygen_saturation": ("oxygen saturation", "oxygen", "spo2", "saturation", "oxygene"),
    "respiratory_rate": ("respiratory rate", "breathing rate", "frequence respiratoire"),
    "body_temperature": ("body temperature", "temperature", "temperature corporelle"),
    "vo2max": ("vo2 max", "vo2max", "vo2", "cardio fitness", "forme cardio"),
    "steps": (
        "steps",
        "step count",
        "nombre de pas",
        "combien de pas",
        "mes pas",
        "pas par jour",
        "pas quotidiens",
    ),
    "distance": ("distance", "how far", "kilometres", "kilometers"),
    "active_energy": ("active energy", "active calories", "calories burned", "calories brulees", "energie active"),
    "exercise_time": ("exercise", "exercise time", "exercice", "minutes d'exercice", "temps d'exercice"),
    "sleep": ("sleep", "slept", "sleeping", "sommeil", "dormi", "dors", "dormir"),
    "dietary_energy": (
        "calories eaten",
        "calorie intake",
        "calories consumed",
        "calories consommees",
        "apport calorique",
    ),
    "protein": ("protein", "proteins", "proteines"),
    "carbohydrates": ("carbohydrates", "carbs", "glucides"),
    "fat": ("fat intake", "dietary fat", "lipides"),
    "sugar": ("sugar intake", "sucres consommes"),
    "fiber": ("fiber", "fibre", "fibres"),
    "water": ("water", "hydration", "eau", "hydratation"),
    "mindful_minutes": ("mindful minutes", "mindfulness", "meditation", "pleine conscience"),
}

# The LOINC codes under which records (vital signs, lab results) hold each metric.
METRIC_LOINC: dict[str, tuple[str, ...]] = {
    "weight": ("29463-7", "3141-9"),
    "bmi": ("39156-5",),
    "height": ("8302-2", "8306-3"),
    "body_fat": ("41982-0",),
    "heart_rate": ("8867-4",),
    "resting_heart_rate": ("40443-4",),
    "blood_pressure_systolic": ("8480-6",),
    "blood_pressure_diastolic": ("8462-4",),
    "respiratory_rate": ("9279-1",),
    "body_temperature": ("8310-5", "8331-1"),
    "oxygen_saturation": ("2708-6", "59408-5"),
    "blood_glucose": ("2339-0", "2345-7", "41653-7", "15074-8"),
}
# Panels whose components carry a metric (blood pressure readings).
METRIC_PANEL_LOINC: dict[str, tuple[str, ...]] = {
    "blood_pressure_systolic": ("55284-4", "85354-9", "35094-2"),
    "blood_pressure_diastolic": ("55284-4", "85354-9", "35094-2"),
}
# Names of hand-entered records (without a LOINC code) that mean the metric, as `measurement_test_key` reads
# them (lower case, accents kept). Blood pressure panels count only through their components.
METRIC_RECORD_NAMES: dict[str, tuple[str, ...]] = {
    "weight": ("weight", "body weight", "poids"),
    "bmi": ("bmi", "body mass index", "imc"),
    "height": ("height", "body height", "taille"),
    "heart_rate": ("heart rate", "pulse", "fréquence cardiaque", "pouls"),
    "resting_heart_rate": ("resting heart rate", "fréquence cardiaque au repos"),
    "blood_pressure_systolic": ("blood pressure", "tension artérielle", "systolic blood pressure"),
    "blood_pressure_diastolic": ("blood pressure", "tension artérielle", "diastolic blood pressure"),
    "body_temperature": ("body temperature", "temperature", "température"),
    "oxygen_saturation": ("oxygen saturation", "spo2"),
    "respiratory_rate": ("respiratory rate", "fréquence respiratoire"),
    "blood_glucose": ("glucose", "blood glucose", "glycémie"),
}
# UCUM spellings FHIR uses that the time-series registry does not list.
UCUM_UNITS = {"cel": "degC", "[degf]": "degF", "[lb_av]": "lb", "[in_i]": "in", "/min": "bpm", "{beats}/min": "bpm"}

_METRIC_PHRASES = sorted(
    ((normalise(word), key) for key, words in METRIC_WORDS.items() for word in words),
    key=lambda item: len(item[0]),
    reverse=True,
)


def metrics_in(text: str) -> list[str]:
    """The metric keys named in normalised text, in the order they appear (each once)."""
    found: list[tuple[int, str]] = []
    remaining = text
    for phrase, key in _METRIC_PHRASES:
        match = find_phrase(phrase, remaining)
        if match:
            if key not in (name for _, name in found):
                found.append((match.start(), key))
            # Blank the phrase so that a shorter one inside it ("heart rate" in "resting heart rate") is not seen.
            remaining = remaining[: match.start()] + " " * len(phrase) + remaining[match.end() :]
    return [key for _, key in sorted(found)]


# -- lab tests ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabTerm:
    """A lab test as patients name it: aliases (EN/FR), its LOINC codes, and words its name contains."""

    key: str
    aliases: tuple[str, ...]
    loinc: tuple[str, ...]
    name_words: tuple[str, ...] = ()


# More specific terms first: "hémoglobine glyquée" before "hémoglobine", "LDL cholesterol" before "cholesterol".
LAB_TERMS: tuple[LabTerm, ...] = (
    LabTerm(
        "hba1c",
        (
            "hba1c",
            "hb a1c",
            "a1c",
            "hemoglobin a1c",
            "haemoglobin a1c",
            "glycated hemoglobin",
            "glycated haemoglobin",
            "glycosylated hemoglobin",
            "hemoglobine glyquee",
            "hemoglobine glycosylee",
            "hb glyquee",
        ),
        ("4548-4", "17856-6", "4549-2", "59261-8"),
        ("a1c",),
    ),
    LabTerm(
        "ldl",
        ("ldl", "ldl cholesterol", "cholesterol ldl", "bad cholesterol", "mauvais cholesterol"),
        ("18262-6", "13457-7", "2089-1", "69419-0"),
        ("ldl", "low density"),
    ),
    LabTerm(
        "hdl",
        ("hdl", "hdl cholesterol", "cholesterol hdl", "good cholesterol", "bon cholesterol"),
        ("2085-9",),
        ("hdl", "high density"),
    ),
    LabTerm("triglycerides", ("triglycerides", "triglyceride"), ("2571-8",), ("triglyceride",)),
    LabTerm(
        "cholesterol",
        ("total cholesterol", "cholesterol total", "cholesterol"),
        ("2093-3",),
        ("cholesterol",),
    ),
    LabTerm(
        "glucose",
        ("glucose", "blood glucose", "blood sugar", "glycemie", "glycaemia", "sucre dans le sang"),
        ("2339-0", "2345-7", "41653-7", "15074-8", "1558-6"),
        ("glucose",),
    ),
    LabTerm(
        "egfr",
        (
            "egfr",
            "gfr",
            "dfg",
            "glomerular filtration",
            "glomerular filtration rate",
            "filtration glomerulaire",
            "debit de filtration glomerulaire",
            "kidney function",
            "fonction renale",
        ),
        ("33914-3", "62238-1", "48642-3", "48643-1", "98979-8"),
        ("glomerular",),
    ),
    LabTerm("creatinine", ("creatinine", "creatininemie"), ("2160-0", "38483-4"), ("creatinine",)),
    LabTerm("urea", ("urea", "bun", "uree", "urea nitrogen", "azote ureique"), ("6299-2", "3094-0"), ("urea",)),
    LabTerm("potassium", ("potassium", "kaliemie"), ("6298-4", "2823-3"), ("potassium",)),
    LabTerm("sodium", ("sodium", "natremie"), ("2947-0", "2951-2"), ("sodium",)),
    LabTerm("chloride", ("chloride", "chlorure", "chlorures", "chloremie"), ("2069-3", "2075-0"), ("chloride",)),
    LabTerm("calcium", ("calcium", "calcemie"), ("49765-1", "17861-6"), ("calcium",)),
    LabTerm(
        "bicarbonate",
        ("carbon dioxide", "bicarbonate", "bicarbonates", "co2"),
        ("20565-8", "2028-9", "1963-8"),
        ("carbon dioxide", "bicarbonate"),
    ),
    LabTerm("hemoglobin", ("hemoglobin", "haemoglobin", "hemoglobine", "hb"), ("718-7",), ("hemoglobin",)),
    LabTerm("hematocrit", ("hematocrit", "haematocrit", "hematocrite"), ("4544-3",), ("hematocrit",)),
    LabTerm("platelets", ("platelets", "platelet count", "plaquettes"), ("777-3",), ("platelets",)),
    LabTerm(
        "leukocytes",
        ("white blood cells", "white cells", "leukocytes", "leucocytes", "globules blancs", "wbc"),
        ("6690-2",),
        ("leukocytes",),
    ),
    LabTerm(
        "erythrocytes",
        ("red blood cells", "red cells", "erythrocytes", "globules rouges", "rbc"),
        ("789-8",),
        ("erythrocytes",),
    ),
    LabTerm("tsh", ("tsh", "thyroid", "thyroide"), ("3016-3", "11580-8"), ("thyrotropin",)),
    LabTerm("vitamin_d", ("vitamin d", "vitamine d", "25-oh"), ("1989-3", "62292-8"), ("vitamin d",)),
    LabTerm("ferritin", ("ferritin", "ferritine"), ("2276-4",), ("ferritin",)),
    LabTerm("psa", ("psa", "prostate specific antigen", "antigene prostatique"), ("2857-1",), ("prostate",)),
    LabTerm("alt", ("alt", "alat", "sgpt", "alanine aminotransferase"), ("1742-6",), ("alanine",)),
    LabTerm("ast", ("ast", "asat", "sgot", "aspartate aminotransferase"), ("1920-8",), ("aspartate",)),
    LabTerm(
        "alkaline_phosphatase",
        ("alkaline phosphatase", "phosphatase alcaline", "phosphatases alcalines", "pal"),
        ("6768-6",),
        ("alkaline phosphatase",),
    ),
    LabTerm("bilirubin", ("bilirubin", "bilirubine"), ("1975-2",), ("bilirubin",)),
    LabTerm("albumin", ("albumin", "albumine", "albuminemie"), ("1751-7",), ("albumin",)),
    LabTerm("globulin", ("globulin", "globuline", "globulines"), ("10834-0",), ("globulin",)),
    LabTerm("total_protein", ("total protein", "proteines totales", "protidemie"), ("2885-2",), ("protein",)),
    LabTerm("ntprobnp", ("nt-probnp", "ntprobnp", "nt probnp", "bnp"), ("33762-6", "30934-4"), ("probnp",)),
    LabTerm(
        "crp",
        ("crp", "c-reactive protein", "c reactive protein", "proteine c reactive"),
        ("1988-5", "30522-7"),
        ("c reactive",),
    ),
    LabTerm(
        "ejection_fraction",
        ("ejection fraction", "fraction d'ejection", "fevg", "lvef"),
        ("10230-1",),
        ("ejection fraction",),
    ),
)
LAB_TERMS_BY_KEY = {term.key: term for term in LAB_TERMS}


def lab_term_spans(text: str) -> list[tuple[int, int, LabTerm]]:
    """(start, end, term) of each lab term named in normalised text, in order; the longest phrase wins."""
    candidates = sorted(
        ((normalise(alias), term) for term in LAB_TERMS for alias in term.aliases),
        key=lambda item: len(item[0]),
        reverse=True,
    )
    found: list[tuple[int, int, LabTerm]] = []
    remaining = text
    for phrase, term in candidates:
        match = find_phrase(phrase, remaining)
        if match:
            if all(term is not other for _, _, other in found):
                found.append((match.start(), match.end(), term))
            remaining = remaining[: match.start()] + " " * len(phrase) + remaining[match.end() :]
    return sorted(found, key=lambda item: item[0])


def lab_terms_in(text: str) -> list[LabTerm]:
    """The lab terms named in normalised text, in the order they appear."""
    return [term for _, _, term in lab_term_spans(text)]


def lab_term_for(text: str) -> LabTerm | None:
    """The lab term a short name means ("HbA1c", "hémoglobine glyquée", "cholestérol LDL"), if any."""
    terms = lab_terms_in(normalise(text))
    return terms[0] if terms else None
