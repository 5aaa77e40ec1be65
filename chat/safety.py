"""The red-flag check: every chat message passes here before any model sees it.

`red_flag_check(text)` looks for an emergency described in the message (English and French patterns are
tried on every message: patients mix languages). When it finds one, `guidance(flag, country=...,
language=...)` is the whole reply: fixed text that leads with the number to call in the patient's
country, a few standard steps, and no hedged home advice. No model is asked.

How a message is read
---------------------
1. Normalised: casefold, accents stripped ("douleur thoracique" = "DOULEUR THORACIQUE"), apostrophes and
   hyphens become spaces ("j'ai" -> "j ai", "can't" -> "can t", "self-harm" -> "self harm"), common
   spellings without apostrophe are restored ("cant", "jai", "narrive", "im"), whitespace collapsed.
2. Split into sentences (. ! ? and line breaks, not a decimal point) and clauses (sentences further cut at
   , ; : and at "but / however / because / and now / mais / pourtant / parce que / et maintenant"...).
   A comma between two digits ("1,1 g/L") cuts nothing.
3. Phrase patterns per category (regular expressions on whole words), never single words: "heart" or
   "chest" alone never fire; "my chest hurts", "mal a la poitrine", "face drooping", "I took 20 pills" do.
   A phrase whose meaning *is* a negation carries it inside the pattern ("I can't breathe", "je ne peux
   plus respirer", "he is not breathing", "the bleeding won't stop"), so the negation rule below never
   sees it.
4. A match is dropped when, in its clause:
   - negated: a negator ("no", "not", "never", "without", "denies", "don't have", "isn't", "pas",
     "pas de", "plus de", "sans", "aucun", "jamais", "ni", "n'ai pas", "ne ... plus") stands before it
     with at most 5 words in between; or the clause goes on with "is gone / went away / a disparu".
     Phrases that look like negators but are not ("not sure", "no idea", "no one", "pas sur",
     "je ne sais pas", "pas bien", "de plus en plus", "never felt pain like this", "jamais eu aussi
     mal", "can't walk without...") are blanked first, so "I don't know why but my chest hurts" and
     "j'ai jamais eu aussi mal a la poitrine" still fire. "No, I have chest pain now" fires: the comma
     ends the "no".
   - hypothetical: "if / in case / suppose / watch out for / si je / si on / en cas de / au cas ou /
     quand on / surveiller" stands before it (but not "know if", "wonder if", "je ne sais pas si", which
     mean *whether*), unless the sentence says "now / right now / maintenant / en ce moment".
   - in the past: "years ago", "last year", "last Tuesday", "in 2019", "as a child", "history of",
     "used to", "il y a 3 ans", "l'an dernier", "mardi dernier", "en 2019", "antecedents"... A
     long-standing complaint ("for years", "depuis des annees") is dropped too, except for suicidal
     thoughts, which fire however old they are. "yesterday", "last night", "an hour ago" are recent and
     drop nothing. A named event without a present frame ("my son had a seizure", "j'ai fait un AVC") is
     read as history; "just had", "je viens de faire", "I think I had" fire.
   - educational: the sentence asks about signs, causes, definitions or prevention ("what are the signs
     of a stroke?", "quels sont les signes d'un AVC ?", "can stress cause chest pain?", any question
     starting with what/why/how/quel/comment/est-ce que...) and the clause, once that question text is
     blanked, says nothing about a person ("I, my, he, she, my son, je, j', mon, ma, il, elle..."). So
     "what are the signs of a stroke, like face drooping?" is dropped but "quels sont les signes d'un
     AVC, j'ai la bouche de travers" fires. Phrases that name the person and the present themselves
     ("I think I'm having a stroke", "am I having a heart attack?", "je fais un AVC", "is this a
     stroke?") are never treated as educational.
5. Some rules need a second phrase somewhere in the message, itself not negated: swollen lips or face
   need an allergy context; a stiff neck needs a fever; a glucose value or "hypo" needs severe signs
   (confusion, drowsiness, vomiting...); sudden arm weakness needs "sudden / one side / face / speech".
   Some are dropped by context in the sentence: heavy bleeding with "period / regles" (menstrual), "can't
   breathe" with "lol / haha / mdr".

Decisions worth knowing
-----------------------
- Heartburn, reflux and "brulures d'estomac" do not fire; "burning in my chest" alone does not either;
  "chest pain" does, whatever else is said ("chest pain after pizza").
- "Mal au coeur" (French for nausea) does not fire; "douleur au coeur" does.
- A normal glucose ("ma glycemie est a 1,1 g/L") never fires. Values fire only with severe signs in the
  same message: below 54 mg/dL (3.0 mmol/L, 0.54 g/L) with confusion/drowsiness/unconsciousness, or
  300 mg/dL and above (16.7 mmol/L, 3 g/L) with vomiting, confusion, fast breathing or ketones. A bare
  number without unit is read as mg/dL only from 40 up (below that it could be mmol/L or g/L). A meter
  showing "HI"/"LO" (beyond its range) fires alone; blood ketones of 3 mmol/L or more fire alone.
- "I took 20 pills" fires from 10 pills/tablets up, or "a (whole) bottle of pills / all my pills / toute la
  boite"; not when spread over time ("20 pills over two weeks") or said of the day's doses ("all my pills
  this morning"). A double dose does not fire.
- Suicidal phrases fire even when joked about; "I can't breathe lol" does not.
- Several categories can match; `RedFlag.category` is the most urgent (the order of CATEGORIES), and the
  guidance adds the crisis line whenever suicide or self-harm is among them.

RedFlag holds no text from the message. Its category is itself health information: do not log it.
Cost: about 0.2 ms for a chat message, about 30 ms for a 4000-character one (the chat's limit); the work per
clause and sentence is done once per message, so a long message stays linear.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

# Most urgent first: the first matched category leads the guidance.
CATEGORIES = (
    "unconscious_seizure",
    "breathing",
    "anaphylaxis",
    "chest_pain",
    "stroke",
    "bleeding",
    "overdose_poisoning",
    "diabetic_emergency",
    "meningitis_signs",
    "severe_headache",
    "suicide_self_harm",
)
CRISIS_CATEGORIES = frozenset({"suicide_self_harm"})


@dataclass(frozen=True)
class RedFlag:
    """An emergency found in a message. category: the most urgent; categories: all found, most urgent
    first; rules: the name of the rule that fired for each category (for tests and review, not logs)."""

    category: str
    categories: tuple[str, ...]
    rules: tuple[str, ...]

    @property
    def crisis(self) -> bool:
        return any(category in CRISIS_CATEGORIES for category in self.categories)


# -- normalisation ------------------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc\u0060\u00b4\u2032]")
_WORD_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")
_DASHES = re.compile(r"\s[-\u2013\u2014]+\s|[\u2013\u2014]")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_LINES = re.compile(r"\s*[\r\n]+\s*")

# Spellings without apostrophe or with a space, mapped to the normalised form the patterns use.
_SPELLINGS = [
    (r"can not|cannot|cant", "can t"),
    (r"could not|couldnt", "couldn t"),
    (r"do not|dont", "don t"),
    (r"does not|doesnt", "doesn t"),
    (r"did not|didnt", "didn t"),
    (r"will not|wont", "won t"),
    (r"is not|isnt", "isn t"),
    (r"are not|arent", "aren t"),
    (r"was not|wasnt", "wasn t"),
    (r"have not|havent", "haven t"),
    (r"has not|hasnt", "hasn t"),
    (r"i am|im", "i m"),
    (r"ive", "i ve"),
    (r"wanna", "want to"),
    (r"gonna", "going to"),
    (r"od d|od ed|oded", "overdosed"),
    (r"od ing|oding", "overdosing"),
    (r"an od", "an overdose"),
    (r"unconcious|unconsious|unconscius|unconcsious", "unconscious"),
    (r"siezure|seizur|seisure|seazure", "seizure"),
    (r"siezures|seisures", "seizures"),
    (r"anaphylatic|anaphalactic|anafylactic", "anaphylactic"),
    (r"bleading|bleeeding", "bleeding"),
    (r"jai", "j ai"),
    (r"jarrive", "j arrive"),
    (r"narrive", "n arrive"),
    (r"nai", "n ai"),
    (r"jetouffe", "j etouffe"),
    (r"jsuis|jsui|chui|chuis|j suis", "je suis"),
    (r"jpeux|j peux", "je peux"),
    (r"jveux|j veux", "je veux"),
    (r"jme|j me", "je me"),
    (r"jvais|j vais", "je vais"),
    (r"cest", "c est"),
    (r"ya", "il y a"),
    (r"tjrs|tjs", "toujours"),
    (r"bcp", "beaucoup"),
    (r"vrmt", "vraiment"),
    (r"mourrir", "mourir"),
    (r"glycemi", "glycemie"),
]
_SPELLING_RES = [(re.compile(rf"\b(?:{pattern})\b"), repl) for pattern, repl in _SPELLINGS]


def normalise(text: str) -> str:
    """The message as the patterns read it: casefolded, without accents, apostrophes as spaces."""
    text = text.casefold().replace("\u0153", "oe").replace("\u00e6", "ae")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = _APOSTROPHES.sub(" ", text)
    text = _WORD_HYPHEN.sub(" ", text)
    text = _DASHES.sub(" , ", text)
    text = _LINES.sub(" . ", text)
    text = _SPACES.sub(" ", text).strip()
    for pattern, repl in _SPELLING_RES:
        text = pattern.sub(repl, text)
    return text


# -- sentences and clauses ----------------------------------------------------------------------------

# A full stop or comma between two digits is a decimal mark, not a boundary.
_SENTENCE_END = re.compile(r"(?:[!?]+|(?<!\d)\.+|\.+(?!\d))")
_CLAUSE_END = re.compile(
    r"(?:[!?;:()\[\]]+|(?<!\d)[.,]+|[.,]+(?!\d)"
    r"|\b(?:but|however|though|although|except|whereas|because|and now|but now|then|mais|cependant|pourtant"
    r"|toutefois|sauf que|sauf|par contre|en revanche|parce que|et maintenant|mais maintenant|puis|ensuite)\b)"
)


def _spans(text: str, boundary: re.Pattern) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in boundary.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


# -- vocabulary shared by the patterns ------------------------------------------------------------------

_MACROS = {
    "PERSON": (
        r"(?:husband|wife|son|daughter|baby|child|kid|toddler|infant|mom|mum|mother|dad|father|parent|partner"
        r"|friend|boyfriend|girlfriend|brother|sister|grandma|grandpa|grandmother|grandfather|nan|gran|aunt"
        r"|uncle|cousin|neighbou?r|roommate|flatmate|colleague|coworker|boss|fiancee?|nephew|niece)"
    ),
    "FR_PERSON": (
        r"(?:mari|femme|epoux|epouse|fils|fille|bebe|enfant|mere|pere|maman|papa|conjoint|conjointe|compagnon"
        r"|compagne|ami|amie|copain|copine|frere|soeur|grand mere|grand pere|mamie|papi|papy|voisin|voisine"
        r"|collegue|oncle|tante|cousin|cousine|neveu|niece)"
    ),
    # someone is (I'm / he's / my dad is / am I / is she)
    "SUBJ_BE": (
        r"(?:i m|am i|(?:he|she|it) (?:s|is)|is (?:he|she|it)|they (?:re|are)|are (?:they|we)|we (?:re|are)"
        r"|my (?:\w+ )?{PERSON} (?:s|is)|is my (?:\w+ )?{PERSON}|(?:this|that) (?:man|woman|person|guy|lady|child"
        r"|kid|baby) (?:s|is))(?: (?:just|still|maybe|probably|possibly|currently|now|actually|literally|definitely"
        r"|really|already|clearly|certainly))*"
    ),
    "SUBJ": r"(?:i|he|she|they|we|my (?:\w+ )?{PERSON}|the (?:baby|child|kid|toddler))",
    "FR_SUBJ": r"(?:je|j|il|elle|on|(?:mon|ma|notre) (?:\w+ )?{FR_PERSON}|le bebe|l enfant|le petit|la petite)",
    "HAVING": r"(?:having|going into|going through|suffering|experiencing|in the middle of|showing signs of|in)",
    "CANT": (
        r"(?:can t|couldn t|can no longer|can barely|can hardly|could barely|could hardly|unable to|not able to"
        r"|no longer able to|struggling to|struggle to|fighting to)"
    ),
    "FR_CANT": (
        r"(?:(?:ne |n )?(?:peux|peut|peuvent|pouvais|pouvait|arrive|arrives|arrivent|arrivais|arrivait|parviens"
        r"|parvient)(?: (?:pas|plus|presque plus|presque pas|meme plus|meme pas|vraiment pas|quasiment plus"
        r"|quasiment pas|vraiment plus))(?: a)?|impossible de|incapable de)"
    ),
    "FR_HARD": r"(?:(?:ai|a|j ai) )?(?:du mal a|de la peine a|des difficultes a|difficulte a|beaucoup de mal a)",
    "ALLERGY": (
        r"(?:allerg\w*|anaphyla\w*|allergic reaction|sting|stung|bee|wasp|hornet|peanuts?|nuts?|shellfish|shrimp"
        r"|penicillin|antibiotics?|amoxicillin|hives|epi ?pen|adrenaline|epinephrine|after (?:eating|taking)"
        r"|can t breathe|wheez\w*|urticaire|piqure|pique|guepe|abeille|frelon|cacahuetes?|arachides?|noix"
        r"|fruits de mer|crustaces|antibiotiques?|apres avoir (?:mange|pris))"
    ),
    "NOW": (
        r"(?:now|right now|currently|at the moment|as we speak|as i type|maintenant|en ce moment|actuellement"
        r"|a l instant|tout de suite)"
    ),
    "PILLS": (
        r"(?:pills?|tablets?|tabs|capsules?|caps|meds|medications?|medicines?|drugs|paracetamol|acetaminophen"
        r"|tylenol|ibuprofen|advil|aspirin|sleeping pills|painkillers|antidepressants|xanax|valium|opioids?"
        r"|oxy\w*|benzos?|codeine|tramadol|morphine|fentanyl|lithium|doliprane|insulin)"
    ),
    "MANY": (
        r"(?:about |like |around |over |more than |maybe |nearly |almost |at least |probably )?"
        r"(?:[1-9]\d{1,2}|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty"
        r"|thirty|forty|fifty|sixty|hundred|a hundred|a dozen|dozens of|a handful of|handfuls of|a bunch of"
        r"|a lot of|lots of|loads of|way too many|too many|so many|all (?:my|of my|the|his|her|of the|of his"
        r"|of her|their))"
    ),
    "CONTAINER": (
        r"(?:a whole|the whole|an entire|the entire|a full|my whole|all the|all my|his whole|her whole)"
        r" (?:bottle|box|pack|packet|strip|blister|jar|tub|tube|container|prescription)"
        r"|(?:a|half a|half the|two|three) (?:bottle|box|pack|packet)s? of (?:\w+ )?{PILLS}"
    ),
    "FR_MANY": (
        r"(?:environ |au moins |plus de |presque |genre |peut etre )?"
        r"(?:[1-9]\d{1,2}|dix|onze|douze|treize|quatorze|quinze|seize|vingt|trente|quarante|cinquante|cent"
        r"|une dizaine de|une vingtaine de|une trentaine de|une cinquantaine de|plein de|beaucoup de|trop de"
        r"|tous mes|toutes mes|tous les|toutes les|tous ses|toutes ses)"
    ),
    "FR_CONTAINER": (
        r"(?:toute (?:la|une|ma|sa) (?:boite|plaquette|bouteille|tablette|ordonnance)|tout (?:le|un|mon|son)"
        r" (?:flacon|tube|tube|pilulier|blister|stock)|(?:une|la) (?:boite|plaquette|bouteille) (?:entiere|complete)"
        r"|toutes (?:les|mes|ses) (?:boites|plaquettes)|(?:une|deux|trois) (?:boites?|plaquettes?|flacons?) (?:de|d)"
        r" (?:\w+ )?{FR_PILLS})"
    ),
    "FR_PILLS": (
        r"(?:comprimes?|cachets?|pilules?|gelules?|medicaments?|medocs?|somniferes?|anxiolytiques?"
        r"|antidepresseurs?|doliprane|dafalgan|efferalgan|paracetamol|ibuprofene|advil|nurofen|aspirine|xanax"
        r"|lexomil|temesta|stilnox|tramadol|codeine|morphine|insuline|lithium)"
    ),
    "POISON": (
        r"(?:bleach|detergent|laundry (?:pods?|capsules?|tablets?|liquid)|dishwasher (?:pods?|tablets?|capsules?)"
        r"|tide pods?|drain cleaner|oven cleaner|antifreeze|rat poison|rodenticide|pesticides?|insecticide"
        r"|weed ?killer|herbicide|cleaning (?:products?|fluid|liquid)|toilet cleaner|ammonia|lye|caustic soda"
        r"|button batter(?:y|ies)|batter(?:y|ies)|methanol|lamp oil|paraffin|kerosene|petrol|gasoline"
        r"|paint thinner|white spirit|nail polish remover|acetone|poison(?:ous)? (?:mushrooms?|berries|plants?)"
        r"|wild mushrooms|e ?liquid|nicotine liquid|vape (?:liquid|juice)|magnets|essential oils?|hand sanitiz\w+"
        r"|poison)"
    ),
    "FR_POISON": (
        r"(?:javel|eau de javel|destop|deboucheur|produit (?:menager|d entretien|vaisselle|de nettoyage|lave vaisselle"
        r"|wc)|capsules? de lessive|lessive|dosettes? de lessive|pastilles? (?:pour )?(?:de )?lave vaisselle|antigel"
        r"|mort aux rats|raticide|pesticide|insecticide|desherbant|white spirit|petrole|essence|alcool a bruler"
        r"|methanol|acetone|dissolvant|piles? bouton|piles?|champignons (?:sauvages|cueillis|ramasses|toxiques"
        r"|veneneux|inconnus)|baies (?:sauvages|toxiques|inconnues)|e liquide|nicotine|aimants?"
        r"|huiles? essentielles?|ammoniaque|soude caustique|poison)"
    ),
    "STOP": r"(?:won t|doesn t|isn t|hasn t|haven t|aren t|not|can t|never) (?:stop|stopping|stopped|slow|slowing)",
    "SEVERE_SX": (
        r"(?:confus\w*|disorient\w*|not making sense|making no sense|talking nonsense|can t think|incoheren\w*"
        r"|drowsy|very sleepy|hard to wake|won t wake|can t wake|not waking|unconscious|unresponsive|passed out"
        r"|passing out|fainted|fainting|collapsed|seizure|seizing|fitting|convuls\w*|slurr\w*|can t swallow"
        r"|unable to swallow|won t eat|can t eat|acting (?:strange\w*|weird|drunk|odd)|aggressive|combative"
        r"|can t stand|can t speak|desorient\w*|delire|somnolen\w*|ne se reveille|inconscien\w*|ne repond"
        r"|evanoui\w*|malaise|ne sait plus|ne comprend plus|bizarre|agressi\w*|n arrive (?:plus|pas) a (?:avaler"
        r"|parler|manger)|ne peut (?:plus|pas) (?:avaler|parler|manger)|titube)"
    ),
    "DKA_SX": (
        r"(?:vomit\w*|throwing up|being sick|can t keep (?:anything|fluids|water|food) down|stomach pain"
        r"|abdominal pain|belly pain|tummy pain|breathing (?:fast|hard|deeply|heavily|quickly)|deep breath\w*"
        r"|fast breath\w*|rapid breath\w*|fruity|ketones?|confus\w*|drowsy|very sleepy|hard to wake|vomi\w*"
        r"|mal au ventre|douleurs? (?:abdominales?|au ventre)|respir\w* (?:vite|rapidement|fort|profondement)"
        r"|haleine|somnolen\w*|cetones?|acetone)"
    ),
    "FEVER": (
        r"(?:fevers?|feverish|febrile|high (?:temp|temperature)|burning up|(?:temp|temperature) (?:of |is |at |was |de "
        r"|est |a )?(?:3[89]|4[0-2]|10[1-6])(?:[.,]\d)?|(?:3[89]|4[0-2])(?:[.,]\d)? ?\u00b0? ?(?:c|degrees|deg|degres)"
        r"|10[1-6](?:[.,]\d)? ?\u00b0? ?(?:f|degrees|deg)|fievre|forte temperature|de la temperature"
        r"|temperature (?:elevee|forte|haute))"
    ),
    "SUDDEN": (
        r"(?:sudden\w*|all of a sudden|out of nowhere|one side|left side|right side|face|speech|slurr\w*|droop\w*"
        r"|tout d un coup|d un coup|soudain\w*|brutal\w*|d un (?:seul )?cote|visage|parole|bouche)"
    ),
    "PREGNANT": r"(?:pregnan\w*|weeks? along|enceinte|grossesse|semaines? d amenorrhee|\d+ ?sa)",
    "HEAVY": (
        r"(?:heav\w*|a lot|lots of blood|clots?|soak\w*|severe|strong pain|intense pain|abondant\w*|beaucoup"
        r"|caillots?|important\w*|enormement|douleurs? (?:fortes?|intenses?|violentes?|atroces?)|fortes? douleurs?)"
    ),
}


def _expand(pattern: str) -> str:
    for _ in range(4):
        pattern = re.sub(r"\{([A-Z_]+)\}", lambda m: _MACROS[m.group(1)], pattern)
    return pattern


def _re(pattern: str) -> re.Pattern:
    return re.compile(rf"(?<!\w)(?:{_expand(pattern)})(?!\w)")


# -- glucose values -------------------------------------------------------------------------------------

_GLUCOSE = (
    r"(?:blood sugars?|blood glucose|sugars?|glucose|bg|bgl|bs|glycemia|glycaemia|cgm|dexcom|freestyle libre|my libre"
    r"|glycemie|sucre|taux de sucre|dextro|capteur)(?: \w+){0,4}? (?:of |at |a |is |de |est "
    r"|=)?(?P<value>\d{1,3}(?:[.,]\d{1,2})?) ?(?P<unit>mg ?/ ?dl|mg|mmol ?/ ?l|mmol|g ?/ ?l|g|gl)?"
)


def _mg_dl(match: re.Match) -> float | None:
    value = float(match.group("value").replace(",", "."))
    unit = (match.group("unit") or "").replace(" ", "")
    if unit.startswith("mmol"):
        return value * 18.0
    if unit in ("g/l", "g", "gl"):
        return value * 100.0
    if unit.startswith("mg"):
        return value
    return value if value >= 40 else None  # 2.1 could be mmol/L or g/L: read no unitless small value


def _glucose_low(match: re.Match) -> bool:
    value = _mg_dl(match)
    return value is not None and value < 54


def _glucose_high(match: re.Match) -> bool:
    value = _mg_dl(match)
    return value is not None and value >= 300


def _ketones_high(match: re.Match) -> bool:
    return float(match.group("value").replace(",", ".")) >= 3.0


# -- rules ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    category: str
    name: str
    regex: re.Pattern
    framed: bool  # the phrase names the person and the present itself: never educational
    requires: tuple[re.Pattern, ...]  # each must also be in the message, not negated
    unless: re.Pattern | None  # dropped when this is in the same sentence
    check: Callable[[re.Match], bool] | None


def _rule(
    category: str,
    name: str,
    pattern: str,
    *,
    framed: bool = False,
    requires: str | tuple[str, ...] = (),
    unless: str | None = None,
    check: Callable[[re.Match], bool] | None = None,
) -> _Rule:
    requires = (requires,) if isinstance(requires, str) else requires
    return _Rule(
        category=category,
        name=name,
        regex=_re(pattern),
        framed=framed,
        requires=tuple(_re(r) for r in requires),
        unless=_re(unless) if unless else None,
        check=check,
    )


def _events(category: str, name: str, event: str, fr_event: str) -> list[_Rule]:
    """Rules for a named event said of a person now: "I'm having a stroke", "is this a stroke?",
    "my dad just had a seizure", "je fais un AVC", "c'est un AVC ?", "il vient de faire un malaise"."""
    return [
        _rule(
            category, f"{name}.en.having", rf"{{SUBJ_BE}} {{HAVING}} (?:an? |the |another |some )?{event}", framed=True
        ),
        _rule(
            category,
            f"{name}.en.this_is",
            rf"(?:this|it|that) (?:s|is|could be|might be|may be|must be|feels like|looks like|seems like|seems to be)"
            rf" (?:an? |the )?{event}"
            rf"|(?:is|could|might) (?:this|it|that) (?:be )?(?:an? |the )?{event}",
            framed=True,
        ),
        _rule(
            category,
            f"{name}.en.just_had",
            rf"{{SUBJ}} (?:ve |has |have |s )?just had an? {event}"
            rf"|(?:i think|i believe|i m afraid|i m scared|i m worried|i fear) (?:that )?{{SUBJ}} (?:just )?"
            rf"(?:had|has had|have had|ve had|s had) an? {event}",
            framed=True,
        ),
        _rule(
            category,
            f"{name}.fr.fait",
            # je fais un AVC / il est en train de faire un AVC / j'ai une crise d'asthme
            rf"(?:je|j|il|elle|on|(?:mon|ma|notre) (?:\w+ )?{{FR_PERSON}}) (?:suis |est )?"
            rf"(?:en train de |peut etre en train de )?(?:fais|fait|faire|fasse|ai|a|suis en|est en)"
            rf"(?: peut etre)? (?:un |une |d un |d une )?{fr_event}"
            # il vient de faire un malaise
            rf"|(?:je|il|elle|(?:mon|ma) (?:\w+ )?{{FR_PERSON}}) (?:viens|vient) d (?:en )?(?:faire|avoir)"
            rf" (?:un |une )?{fr_event}"
            # je crois que mon pere a fait un AVC
            rf"|(?:je|j) (?:crois|pense|ai peur|ai l impression|me demande si) (?:que |qu |d |de )?"
            rf"(?:j ai|il a|elle a|je viens de|il vient de|elle vient de|(?:mon|ma) (?:\w+ )?{{FR_PERSON}} a)"
            rf" (?:fait|eu|faire|avoir) (?:un |une )?{fr_event}",
            framed=True,
        ),
        _rule(
            category,
            f"{name}.fr.cest",
            rf"(?:c est|ce serait|ca ressemble a|on dirait|ca pourrait etre|est ce|est ce que c est|c est peut etre"
            rf"|serait ce|ca serait) (?:un |une |d un |d une )?{fr_event}",
            framed=True,
        ),
    ]


_STROKE = r"(?:stroke|mini stroke|tia)(?! of (?:luck|genius|bad luck|fate|brilliance))"
_FR_STROKE = r"(?:avc|accident vasculaire(?: cerebral)?|attaque cerebrale)"
_HEART_ATTACK = r"(?:heart attack|myocardial infarction|cardiac event|angina attack)"
_FR_HEART_ATTACK = (
    r"(?:crise cardiaque|infarctus|crise de coeur|attaque cardiaque|syndrome coronarien|crise d angine de poitrine)"
)
_SEIZURE = r"(?:seizures?|fit|convulsions?|epileptic (?:fit|attack|seizure)|grand mal)"
_FR_SEIZURE = r"(?:crise d epilepsie|crise convulsive|convulsions?|crise epileptique|crise comitiale)"
_ANAPHYLAXIS = (
    r"(?:anaphyla\w*|anaphylactic (?:shock|reaction)|(?:severe|bad|serious|strong|major|big|massive|huge|really bad"
    r"|very bad) allergic reaction|allergic shock)"
)
_FR_ANAPHYLAXIS = (
    r"(?:choc anaphylactique|anaphylaxie|reaction anaphylactique|reaction allergique (?:grave|severe|forte|importante"
    r"|violente|tres forte))"
)
_OVERDOSE = r"(?:overdose|od)"
_FR_OVERDOSE = r"(?:overdose|surdose|intoxication medicamenteuse|intox medicamenteuse)"
_ASTHMA = r"(?:(?:severe |bad |serious |major |really bad |very bad )?asthma attack)"
_FR_ASTHMA = r"(?:crise d asthme|crise d asthme (?:grave|severe|forte))"
_DKA = r"(?:dka|ketoacidosis|diabetic ketoacidosis)"
_FR_DKA = r"(?:acidocetose|acido cetose|cetoacidose|acidocetose diabetique)"
_HYPO = (
    r"(?:hypo|hypos|hypoglyc\w*|low (?:blood )?(?:sugar|glucose|bg|bs)|(?:blood )?(?:sugar|glucose|bg) (?:is |s |was "
    r"|keeps |went |has gone |dropped |dropping |crashing |crashed |very |really |so |too |dangerously "
    r"|extremely )*(?:low|dropping|crashing|crashed|plummeting|tanking|falling fast)|en hypo|glycemie (?:tres |trop "
    r"|super |vraiment )?(?:basse|faible|qui chute|qui baisse vite|en chute)|(?:taux de )?sucre (?:tres |trop )?bas)"
)

_RULES: list[_Rule] = [
    # -- chest pain --------------------------------------------------------------------------------------
    _rule(
        "chest_pain",
        "chest_pain.en.chest",
        r"chest (?:pains?|tightness|pressure|discomfort|heaviness|aches?|is (?:hurting|tight|aching|heavy|killing me"
        r"|being crushed|being squeezed|so tight|really tight|very tight|in pain)|hurts|hurt|feels (?:tight|heavy"
        r"|crushed|squeezed|like (?:it s|it is) being (?:crushed|squeezed)|like someone is sitting on it)|is crushing)"
        r"|(?:tight|heavy|painful|crushing|aching|squeezing) chest",
    ),
    _rule(
        "chest_pain",
        "chest_pain.en.in_chest",
        r"(?:pain|pains|tightness|pressure|heaviness|squeezing|crushing|stabbing|sharp|heavy|weight|elephant|band|vice"
        r"|vise|ache|aching|hurts|hurting)(?: \w+){0,3}? (?:in|on|across|around|through|behind) (?:my|the|his|her"
        r"|their) (?:chest|sternum|breastbone)",
    ),
    _rule(
        "chest_pain",
        "chest_pain.en.radiating",
        r"pain (?:\w+ )?(?:spreading|radiating|going|shooting|moving) (?:down|to|into|up|through) (?:my |his |her "
        r"|the )?(?:left |right )?(?:arm|jaw|neck|shoulder|back)",
    ),
    _rule("chest_pain", "chest_pain.en.heart_stopping", r"{SUBJ_BE} having (?:a )?cardiac arrest", framed=True),
    *_events("chest_pain", "chest_pain.heart_attack", _HEART_ATTACK, _FR_HEART_ATTACK),
    _rule(
        "chest_pain",
        "chest_pain.fr.poitrine",
        r"(?:douleurs?|mal|oppression|serrement|poids|etau|pression|barre|gene)(?: \w+){0,2}? (?:a la|dans la"
        r"|au niveau de la|en pleine|sur la|au milieu de la|au centre de la|derriere la) poitrine",
    ),
    _rule(
        "chest_pain",
        "chest_pain.fr.thoracique",
        r"(?:douleurs?|oppression|serrement|constriction|gene|pression|poids)(?: \w+)? thoraciques?",
    ),
    _rule(
        "chest_pain",
        "chest_pain.fr.thorax",
        r"mal (?:au|dans le) (?:thorax|sternum)|douleurs? (?:au|dans le) (?:coeur|sternum|thorax)",
    ),
    _rule(
        "chest_pain",
        "chest_pain.fr.poitrine_verbe",
        r"(?:ma |la )?poitrine (?:me )?(?:serre|fait mal|fait tres mal|fait super mal|est serree|est comprimee"
        r"|est oppressee|comprimee|oppressee|qui serre|en etau|est dans un etau|me fait souffrir)",
    ),
    _rule(
        "chest_pain",
        "chest_pain.fr.irradie",
        r"douleurs? (?:qui (?:descend|irradie|part|monte|file)|irradiant|irradiante)(?: \w+){0,2}? (?:dans|vers|jusqu a"
        r"|jusque dans) (?:le |la |mon |ma |les |l )?(?:bras|machoire|cou|epaule|dos)",
    ),
    # -- stroke ------------------------------------------------------------------------------------------
    _rule(
        "stroke",
        "stroke.en.face",
        r"(?:face|mouth|smile|lip|lips)(?: (?:is|has|seems|looks|went|has gone|started|suddenly|just|kind of|all))*"
        r" (?:drooping|droopy|droops|drooped|sagging|saggy|sagged|lopsided|crooked|twisted|fallen|dropping"
        r"|paralys\w+|paralyz\w+|numb on one side)",
    ),
    _rule(
        "stroke",
        "stroke.en.drooping_face",
        r"(?:drooping|droopy|sagging|lopsided|crooked|twisted) (?:face|mouth|smile)|facial (?:droop\w*|paralysis|palsy"
        r"|weakness|numbness)|(?:one|left|right) side of (?:my|his|her|their|the) (?:face|mouth"
        r"|body) (?:\w+ ){0,2}?(?:drooping|droopy|numb|paralys\w+|paralyz\w+|weak|dead|heavy|limp|fallen|dropped"
        r"|not moving|won t move|tingling)|half (?:of )?(?:my|his|her|their) (?:face|body) (?:\w+ ){0,2}?(?:drooping"
        r"|numb|paralys\w+|paralyz\w+|weak|dead|limp|fallen|not moving)",
    ),
    _rule(
        "stroke",
        "stroke.en.weakness",
        r"(?:sudden|suddenly) (?:\w+ )?(?:weakness|numbness|paralysis|numb|weak|paralys\w+|paralyz\w+)"
        r"|(?:weakness|numbness|paralysis) (?:on|in|of|down) (?:one|the left|the right|my left|my right|his left"
        r"|his right|her left|her right) (?:side|arm|leg)",
    ),
    _rule(
        "stroke",
        "stroke.en.arm",
        r"{CANT} (?:lift|raise|move|feel|use|hold up) (?:my |his |her |their |the |one |either )?(?:left |right )?"
        r"(?:arm|leg|hand|side|arms|legs)",
        requires="{SUDDEN}",
    ),
    _rule(
        "stroke",
        "stroke.en.speech",
        r"slurred speech|slurring (?:my |his |her |their )?(?:words|speech)|(?:speech|words|voice) (?:is |are |sounds? "
        r"|seems? )?(?:suddenly )?(?:slurred|garbled|jumbled|slurring)|words (?:are |keep )?(?:coming"
        r"|come) out (?:wrong|jumbled|garbled)|(?:talking|speaking) (?:gibberish|nonsense|funny all of a sudden)"
        r"|(?:can no longer|suddenly can t|suddenly couldn t) (?:speak|talk)|{CANT} (?:speak|talk) (?:properly|clearly"
        r"|normally|anymore|any more)|{CANT} (?:get (?:my |the |his |her )?words out|find (?:my |the |his |her )?words"
        r"|form words|form sentences)",
    ),
    _rule(
        "stroke",
        "stroke.en.vision",
        r"sudden (?:loss of vision|vision loss|blindness|double vision)|suddenly (?:can t see|blind|seeing double)"
        r"|(?:lost|losing) (?:the )?(?:vision|sight) in (?:one|my left|my right|his left|his right|her left"
        r"|her right) eye",
    ),
    *_events("stroke", "stroke.event", _STROKE, _FR_STROKE),
    _rule(
        "stroke",
        "stroke.brain_bleed",
        r"(?:brain|cerebral|intracranial|subarachnoid) (?:hemorrhage|haemorrhage|bleed\w*)"
        r"|hemorragie (?:cerebrale|meningee|intracranienne)",
    ),
    _rule(
        "stroke",
        "stroke.fr.visage",
        r"bouche (?:de travers|tordue|deformee|qui tombe|tombante|qui part sur le cote|paralysee|deviee)"
        r"|visage (?:de travers|paralyse|deforme|asymetrique|qui tombe|tombe|affaisse|fige d un cote)|(?:cote"
        r"|moitie) du (?:visage|corps) (?:qui )?(?:tombe|paralyse\w*|engourdi\w*|ne bouge plus|insensible"
        r"|ne repond plus)|paralysie (?:faciale|d un cote|du visage|du bras|de la jambe|d un bras|d une jambe)"
        r"|hemiplegi\w*|sourire (?:de travers|tordu|asymetrique)",
    ),
    _rule(
        "stroke",
        "stroke.fr.bras",
        r"(?:bras|jambe|main) (?:qui ne repond plus|paralyse\w*|inerte|ne bouge plus|qui ne bouge plus|ne repond plus)"
        r"|(?:ne |n )?(?:sens|sent) plus (?:mon|ma|le|la|son|sa) (?:bras|jambe|main|visage|cote)",
    ),
    _rule(
        "stroke",
        "stroke.fr.lever",
        r"{FR_CANT} (?:lever|bouger|soulever|remuer) (?:mon|ma|le|la|son|sa|les|mes|ses) (?:bras|jambe|main|jambes)",
        requires="{SUDDEN}",
    ),
    _rule(
        "stroke",
        "stroke.fr.faiblesse",
        r"(?:engourdissement|faiblesse|perte de force|paralysie|fourmillements?) (?:\w+ )?(?:soudaine?|brutale?"
        r"|d un cote|d un seul cote|de tout un cote|du cote (?:gauche|droit))|soudainement (?:faible|engourdie?"
        r"|paralyse\w*)",
    ),
    _rule(
        "stroke",
        "stroke.fr.parole",
        r"{FR_CANT} (?:parler|articuler|trouver (?:mes|ses) mots|former (?:des|mes|ses) mots|m exprimer"
        r"|s exprimer)(?! (?:de|d|a|avec|du|des|au|aux|en public|anglais|francais|maintenant|pour l instant"
        r"|en ce moment))|parole (?:pateuse|troublee?|bizarre|confuse|incomprehensible|difficile|hachee)"
        r"|troubles? de (?:la )?parole|(?:difficulte|difficultes|du mal) a (?:parler|articuler)(?! (?:de|d|a|avec|du"
        r"|des|au|aux|en public|anglais|francais))|(?:je|il|elle) (?:ne )?(?:parle|s exprime|articule) (?:plus"
        r"|bizarrement|de facon incoherente|n importe comment|mal tout d un coup)|les mots (?:ne )?sortent (?:plus|pas"
        r"|mal)|je cherche mes mots|bafouill\w+|zozot\w+",
    ),
    _rule(
        "stroke",
        "stroke.fr.vision",
        r"perte (?:soudaine|brutale) de (?:la )?(?:vue|vision)|(?:je|il|elle) (?:ne |n )?(?:vois|voit) (?:plus"
        r"|plus rien)(?: d un oeil| du tout)?|vision double (?:soudaine|brutale)",
    ),
    # -- sudden severe headache --------------------------------------------------------------------------
    _rule(
        "severe_headache",
        "severe_headache.en.worst",
        r"worst headache (?:of my life|i ve ever had|i have ever had|ever|i ve ever felt)|thunderclap headache"
        r"|headache (?:like|as if) (?:i ve been|i was|being) (?:hit|struck|kicked)|explosive headache",
    ),
    _rule(
        "severe_headache",
        "severe_headache.en.sudden",
        r"(?:sudden|suddenly|out of nowhere|all of a sudden)(?: \w+){0,2} (?:headache|head pain|pain in my head)"
        r"|headache (?:that )?(?:came on|started|hit|began) (?:suddenly|all of a sudden|out of nowhere|in seconds"
        r"|instantly)",
        requires=r"severe|excruciating|worst|unbearable|terrible|intense|violent|agoni[sz]ing|horrible|explosive"
        r"|blinding|10 ?/ ?10|10 out of 10|can t see|vomit\w*|stiff neck|passed out|confus\w*",
    ),
    _rule(
        "severe_headache",
        "severe_headache.fr.tete",
        r"pire mal de tete de (?:ma|sa|toute ma) vie|(?:mal de tete|mal a la tete|cephalee"
        r"|migraine)(?: \w+)? (?:brutale?|soudaine?|en coup de tonnerre|explosi(?:f|ve)|foudroyante?)"
        r"|coup de tonnerre dans (?:la|ma) tete|(?:violent|terrible|atroce|horrible|insupportable) mal (?:de"
        r"|a la) tete (?:soudain|brutal|d un coup|tout d un coup)|mal (?:de|a la) tete (?:atroce|violent|terrible"
        r"|insupportable|horrible) (?:soudain|brutal|d un coup|tout d un coup)|jamais eu (?:aussi|si) mal a la tete",
    ),
    # -- anaphylaxis -------------------------------------------------------------------------------------
    _rule(
        "anaphylaxis",
        "anaphylaxis.en.throat",
        r"(?:throat|airway) (?:is |feels |keeps |seems |feels like it s |feels like it is )?(?:closing|closing up"
        r"|shutting|swelling shut)|tongue (?:is |keeps |started |has |feels )?(?:swelling|swollen|swelled"
        r"|getting bigger|puffing up|blowing up)|swollen tongue|swelling (?:of|in) (?:my |his |her |the )?tongue",
    ),
    _rule(
        "anaphylaxis",
        "anaphylaxis.en.throat_swelling",
        r"throat (?:is |keeps |started |has |feels )?(?:swelling|swollen|swelled|getting tight|tightening|tight)"
        r"|swollen throat|swelling (?:of|in) (?:my |his |her |the )?throat",
        requires="{ALLERGY}",
    ),
    _rule(
        "anaphylaxis",
        "anaphylaxis.en.lips_face",
        r"(?:lips?|face|mouth|eyes?|eyelids?) (?:is |are |feels? |keeps? |has |have |started |is getting "
        r"|are getting )?(?:swelling|swollen|swelled|puffing up|puffy|blowing up|ballooning)|(?:swollen"
        r"|swelling) (?:of (?:the |my )?)?(?:lips?|face)",
        requires="{ALLERGY}",
    ),
    *_events("anaphylaxis", "anaphylaxis.event", _ANAPHYLAXIS, _FR_ANAPHYLAXIS),
    _rule(
        "anaphylaxis",
        "anaphylaxis.named",
        r"anaphylactic (?:shock|reaction)|(?:severe|serious|violent) allergic reaction|allergic shock"
        r"|choc anaphylactique|reaction anaphylactique|reaction allergique (?:grave|severe|violente)",
    ),
    _rule(
        "anaphylaxis",
        "anaphylaxis.en.epipen",
        r"(?:used|gave|given|injected|jabbed|had to use) (?:him |her |me |myself |them |my \w+ )?(?:with )?(?:an? |the "
        r"|my |his |her |their )?(?:epi ?pen|adrenaline|epinephrine|auto ?injector)|need (?:my |an |the |his "
        r"|her )?(?:epi ?pen|adrenaline pen)",
    ),
    _rule(
        "anaphylaxis",
        "anaphylaxis.fr.gorge",
        r"gorge (?:qui )?(?:se (?:ferme|bloque)|fermee)|langue (?:qui )?(?:gonfle|enfle|gonflee|enflee)"
        r"|oedeme de quincke|angio ?oedeme",
    ),
    _rule(
        "anaphylaxis",
        "anaphylaxis.fr.levres",
        r"(?:levres?|visage|yeux|paupieres|bouche|gorge) (?:qui )?(?:gonflent|gonfle|enflent|enfle|gonflees?|enflees?"
        r"|gonfles?|enfles?|se serre|serree)",
        requires="{ALLERGY}",
    ),
    _rule(
        "anaphylaxis",
        "anaphylaxis.fr.stylo",
        r"(?:j ai|il a|elle a|on a|je lui ai) (?:utilise|fait|pris|injecte|donne|mis) (?:mon |l |un |son |le "
        r"|ton )?(?:stylo (?:d )?adrenaline|adrenaline|anapen|epipen|jext|emerade)|besoin (?:de |d )?(?:mon |d un "
        r"|de mon |son )?(?:stylo (?:d )?adrenaline|epipen|anapen)",
    ),
    # -- breathing ---------------------------------------------------------------------------------------
    _rule(
        "breathing",
        "breathing.en.cant",
        r"(?:{CANT}|hard to|difficult to|trouble|difficulty|hard time|struggling|problems?|can t really"
        r"|barely able to) (?:breathe?|breath|breathing|catch (?:my|his|her|a|their) breath|get (?:enough )?air"
        r"|get (?:a|my) breath|take a (?:full |deep )?breath)(?! (?:through|thru|out of) (?:my |the |his |her )?nose"
        r"| when (?:i|he|she) (?:run|exercise|climb|work|walk|jog)| (?:at|during|after) (?:the gym|exercise|running"
        r"|workouts?|sport)| at night| in my sleep| while (?:i )?sleep)",
        unless=r"lol|lmao|lmfao|rofl|haha\w*|hihi|mdr|ptdr|xd",
    ),
    _rule(
        "breathing",
        "breathing.en.not_breathing",
        r"(?:not|isn t|aren t|stopped|has stopped|have stopped|no longer|barely|hardly|isn t really) breathing"
        r"(?! (?:at night|in (?:his|her|my) sleep|while (?:i |he |she )?sleep\w*|during (?:the night|sleep)|properly"
        r" through))",
    ),
    _rule(
        "breathing",
        "breathing.en.gasping",
        r"gasping (?:for (?:air|breath)|to breathe)|(?:i m|he s|she s|is|are|s|m|keeps|started) (?:gasping|choking)"
        r"|choking on"
        r"|suffocating|air hunger|(?:can t|couldn t) get (?:enough )?air",
        unless=r"lol|lmao|lmfao|rofl|haha\w*|mdr|ptdr|xd",
    ),
    _rule(
        "breathing",
        "breathing.en.blue",
        r"(?:lips?|face|mouth) (?:is |are |turning |going |gone |has gone |have gone |went |look |looks |getting )+"
        r"(?:blue|bluish|grey|gray|purple)|(?:blue|purple|grey|gray) lips"
        r"|{SUBJ_BE} (?:turning|going|gone) (?:blue|grey|gray|purple)",
    ),
    _rule(
        "breathing",
        "breathing.en.severe",
        r"(?:severe|very bad|extreme|really bad|serious|sudden) (?:shortness of breath|breathlessness"
        r"|difficulty breathing|breathing (?:difficulty|difficulties|problems?|trouble))|(?:short of breath|breathless"
        r"|out of breath) (?:at rest|lying down|sitting still|while resting|even when resting|doing nothing"
        r"|even sitting)|too breathless to (?:speak|talk|walk)|can t (?:speak|talk|finish) (?:in )?(?:full )?sentences",
    ),
    _rule(
        "breathing",
        "breathing.en.asthma",
        r"asthma attack (?:that )?(?:won t|isn t|is not|doesn t|not) (?:stop|go away|get better|ease|settle)"
        r"|inhaler (?:is )?(?:not|isn t|doesn t|does not|won t) (?:work\w*|help\w*|do anything)"
        r"|(?:severe|bad|serious|really bad|very bad) asthma attack",
    ),
    *_events("breathing", "breathing.asthma", _ASTHMA, _FR_ASTHMA),
    _rule(
        "breathing",
        "breathing.fr.respirer",
        r"(?:{FR_CANT}|{FR_HARD}) (?:respirer|respire|reprendre (?:mon|son) souffle|avoir de l air|trouver (?:mon"
        r"|son) souffle|retrouver (?:mon|son) souffle)(?! par le nez| quand (?:je|il|elle) (?:cours|court|monte"
        r"|fais du sport|fait du sport)| a l effort| en (?:courant|montant|marchant)| la nuit)",
        unless=r"lol|mdr|ptdr|haha\w*|xd",
    ),
    _rule(
        "breathing",
        "breathing.fr.respire",
        r"(?:ne |n )?(?:respire|respirent|respires) (?:plus|pas|presque plus|presque pas|tres mal|tres difficilement"
        r"|difficilement|avec difficulte|mal)",
    ),
    _rule(
        "breathing",
        "breathing.fr.etouffe",
        r"(?:j |je m |il s |elle s |tu t |m |s )?(?:etouffe|etouffes|suffoque|suffoques|suffoquent|etouffent)"
        r"|manque d air|en manque d air|detresse respiratoire|insuffisance respiratoire aigue|arret respiratoire"
        r"|(?:je |il |elle )?(?:cherche|cherchent) (?:mon|son|leur) (?:souffle|air)",
        unless=r"lol|mdr|ptdr|haha\w*|xd|chaleur|boulot|travail|couple|relation",
    ),
    _rule(
        "breathing",
        "breathing.fr.bleu",
        r"levres? (?:bleues?|violettes?|qui bleuissent|qui deviennent bleues|cyanosees|grises)|(?:visage|peau) (?:bleu"
        r"|bleue|violet|violette|gris|grise|qui bleuit)|cyanose",
    ),
    _rule(
        "breathing",
        "breathing.fr.asthme",
        r"crise d asthme (?:grave|severe|qui ne passe pas|qui ne s arrete pas|qui ne se calme pas)|(?:ventoline"
        r"|inhalateur|spray|bronchodilatateur) (?:ne )?(?:fait|marche|agit|soulage) (?:plus|pas|rien)"
        r"|essoufflement (?:brutal|soudain|important|severe|extreme|au repos)|essouffle\w* au repos"
        r"|souffle court au repos",
    ),
    # -- suicide and self-harm ---------------------------------------------------------------------------
    _rule(
        "suicide_self_harm",
        "suicide.en.kill_myself",
        r"kill(?:ing)? (?:my ?self|myself)|end (?:my|it all|my own) life|ending (?:my|my own) life|take (?:my"
        r"|my own) life|taking (?:my|my own) life|end it all|ending it all|unalive (?:my ?self|myself)|(?:want to"
        r"|going to|will|should|might|about to|ll|plan to|wish i could) kms",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.en.want_die",
        r"(?:want|wanted|wish|wishing|plan|planning|ready|decided|tempted|thinking about|thought about"
        r"|think about|urge|urges|feel like|feeling like|would rather|d rather|like) (?:to )?(?:die|be dead"
        r"|disappear forever|not exist|stop existing|stop living|not be alive|not wake up|never wake up|end things"
        r"|end everything|sleep forever)(?! (?:with|of laughter|laughing|of embarrassment|from embarrassment|(?:my|his"
        r"|her|the|their|your) (?:hair|clothes|shirt|beard|eyebrows|fabric|jeans)))|wish (?:i was|i were|i d been"
        r"|i had been) (?:dead|never born)|wish i wasn t (?:alive|born|here)|better off (?:dead|without me)|(?:want"
        r"|wanted|ready|going) to go to sleep and never wake up",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.en.dont_want_to_live",
        r"(?:don t|do not|no longer|not|didn t|never) (?:want|wanna|wish) (?:to )?(?:live|be alive|exist|wake up|go on"
        r"|keep living|carry on|keep going)|(?:don t|no longer) want to be here (?:anymore|any more|no more)"
        r"|no (?:reason|point)(?: in| to| of)? (?:live|living|go on|going on|carrying on|being alive)|life (?:is not"
        r"|isn t|isn t really|is no longer|s not) worth (?:living|it)|can t (?:go on|do this anymore"
        r"|take it anymore) (?:living|like this|anymore)",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.en.suicidal",
        r"suicidal(?: thoughts| ideation| feelings)?|suicide (?:note|letter|plan|attempt|pact)|(?:commit|committing"
        r"|attempt|attempting|attempted|thinking of|thinking about|think about|thoughts of|considering"
        r"|planning) suicide|goodbye (?:note|letter)s?",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.en.self_harm",
        r"self ?harm\w*|self ?injur\w*|(?:want|wanted|going|urge|urges|thinking about|thoughts of|tempted|feel like"
        r"|feeling like|need|plan) (?:to )?(?:hurt|harm|cut|burn|injure|punish|starve|hit) (?:my ?self|myself)|(?:i m"
        r"|i ve been|i have been|i keep|started|keep|been) (?:cutting|harming|hurting|burning|scratching) (?:my ?self"
        r"|myself)|(?:cut|hurt|harmed|burned|burnt) (?:my ?self|myself) (?:on purpose|deliberately|intentionally|again)"
        r"|(?:cut|cutting|slit|slitting|slash|slashing) (?:my|his|her) (?:wrists?|arms?|thighs?|veins?|throat)",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.en.method",
        r"(?:hang|hanging|shoot|shooting|drown|drowning|poison|poisoning|overdose|overdosing|suffocate|gas) (?:my ?self"
        r"|myself)|jump (?:off|from|in front of) (?:a|the|that) (?:bridge|building|roof|balcony|cliff|train|car|bus"
        r"|window|tower)|(?:throw|throwing) myself (?:off|under|in front of)",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.fr.me_tuer",
        r"(?:me|se) (?:suicider|suicide|supprimer|foutre en l air|flinguer|pendre|jeter (?:sous|du|d un|par la|d une)"
        r"|defenestrer|noyer|couper les veines|trancher les veines|ouvrir les veines|tailler les veines)"
        r"|(?:me suis|s est|se sont) (?:ouvert|coupe|taillade|tranche)e?s? les (?:veines|poignets)"
        r"|(?<!va )(?<!vas )(?<!vont )(?<!ca )me tuer|(?:veut|veux|voulait|va|vais|pense a|envie de|tente de) se tuer",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.fr.mourir",
        r"(?:veux|voudrais|veut|envie de|envie d|besoin de|prefere|prefererais|aimerais|j aimerais|pense a) (?:mourir"
        r"|crever|disparaitre|ne plus vivre|ne plus etre la|ne plus me reveiller|ne jamais me reveiller"
        r"|partir pour de bon|dormir pour toujours)(?! (?:de rire|de honte|de faim|de chaud|de froid|d ennui))|(?:envie"
        r"|besoin|veux|voudrais|decide|pense a|aimerais|il faut que j|prefere|tente) (?:d "
        r"|de )?en finir(?! avec (?!(?:la vie|tout|ma vie|moi|l existence|mes jours|ce monde)\b))"
        r"|en finir avec (?:la vie|ma vie|l existence|tout ca|moi meme)",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.fr.plus_envie",
        r"(?:ne |n )?(?:veux|veut|ai|a) plus (?:envie de|le gout de|la force de|envie d) vivre|(?:ne |n )?(?:veux"
        r"|veut) plus vivre|plus envie de vivre|pas envie de vivre|marre de (?:la vie|vivre)|ras le bol de (?:la vie"
        r"|vivre)|la vie ne vaut (?:pas|plus|rien) (?:la peine|le coup)?|(?:seraient|serait|serais) mieux sans moi"
        r"|(?:je serais|ce serait|ca serait) (?:mieux|plus simple) (?:mort|morte|si je (?:n etais|mourais"
        r"|disparaissais))|mettre fin a (?:mes|ses|tes) jours|mettre fin a (?:ma|sa) vie|mettre un terme a (?:ma"
        r"|sa) vie",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.fr.idees",
        r"(?:idees|pensees|envies) (?:suicidaires|noires|de mort|de suicide|de me tuer)|suicidaire|tentative de suicide"
        r"|(?:pense|penser|songe) (?:au|a me|a se) (?:suicide|suicider)|lettres? d adieu",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.fr.automutilation",
        r"scarifi\w*|automutil\w*|auto mutil\w*|me mutiler|me taillader|(?:veux|envie de|besoin de|pense a|vais|peur de"
        r"|tente de|pulsions? de|envie d) (?:me faire (?:du )?mal|me blesser|me couper|me bruler|me frapper)"
        r"|je me (?:coupe|brule|mutile) (?:encore|a nouveau|volontairement|expres|souvent|tous les jours|les (?:bras"
        r"|poignets|cuisses|veines))",
    ),
    _rule(
        "suicide_self_harm",
        "suicide.fr.sauter",
        r"(?:vais|veux|envie de|pense a|va) (?:sauter|me jeter) (?:du|d un|de la|par la|d une|sous) (?:pont|toit"
        r"|immeuble|balcon|falaise|fenetre|train|voiture|tour|haut)",
    ),
    # -- overdose and poisoning --------------------------------------------------------------------------
    _rule(
        "overdose_poisoning",
        "overdose.en.took_many",
        r"{SUBJ} (?:(?:just|have|ve|has|s|accidentally|deliberately|intentionally|purposely|already|may have|might have"
        r"|think i|think he|think she) )*(?:took|taken|take|swallowed|ate|eaten|downed|popped|had|injected|drank"
        r"|gulped) (?:{MANY} (?:of (?:my|his|her|their|the) )?(?:\w+ )?{PILLS}|{CONTAINER}(?: of)?(?: \w+)?)(?! (?:over"
        r"|during|across|in|this|per|a|each|every|since|through) (?:the |a |last |past |\d+ |two |few "
        r"|couple )?(?:days?|weeks?|months?|year|years|day|week|month|morning|evening|time))(?! (?:today|tonight"
        r"|this morning|as prescribed|as usual|on time|for the day|for today|like (?:i|the doctor)))",
    ),
    _rule(
        "overdose_poisoning",
        "overdose.en.too_much",
        r"{SUBJ} (?:(?:just|have|ve|has|s|accidentally|may have|might have|think i|think he) )*(?:took|taken|swallowed"
        r"|injected|had|given|gave (?:him|her|them|myself)) (?:way |far |much )?too much (?:\w+ )?{PILLS}",
    ),
    *_events("overdose_poisoning", "overdose.event", _OVERDOSE, _FR_OVERDOSE),
    _rule(
        "overdose_poisoning",
        "overdose.fr.fait",
        r"(?:j ai|il a|elle a|on a|(?:mon|ma) (?:\w+ )?{FR_PERSON} a) (?:peut etre |sans doute )?fait une (?:overdose"
        r"|surdose)",
        framed=True,
    ),
    _rule(
        "overdose_poisoning",
        "overdose.en.overdosed",
        r"{SUBJ} (?:(?:just|think i|think he|think she|may have|might have|have|ve|has|s) )*(?:overdosed"
        r"|took an overdose|taken an overdose)|(?:i m|he s|she s|is|am i) overdosing",
        framed=True,
    ),
    _rule(
        "overdose_poisoning",
        "overdose.en.poison",
        r"{SUBJ} (?:(?:just|accidentally|may have|might have|has|have|ve|s|think i|think he|think she) )*(?:drank|drunk"
        r"|swallowed|ate|eaten|ingested|licked|inhaled|chewed|bit into|got into|sucked on) (?:(?:some|a|an|the|a bit of"
        r"|some of (?:the|my|his|her)|a whole|half (?:a|the)|my|his|her) )?(?:\w+ ){0,2}?{POISON}",
    ),
    _rule(
        "overdose_poisoning",
        "overdose.en.child_meds",
        r"(?:baby|kid|child|toddler|son|daughter|bebe|enfant|fils|fille|petit|petite)(?: \w+){0,3}? (?:has |just |a "
        r"|have )?(?:swallowed|ate|eaten|drank|got into|avale|mange|bu) (?:\w+ ){0,3}?(?:pills|tablets|medicine"
        r"|medication|meds|medicaments|cachets|comprimes|pilules|gelules)",
    ),
    _rule(
        "overdose_poisoning",
        "overdose.en.poisoned",
        r"{SUBJ} (?:(?:think i|think he|think she|may have been|might have been|have been|ve been|has been|s been|was"
        r"|got|were|am|m|is|s) )*poisoned|carbon monoxide (?:poisoning|leak|alarm)|co (?:alarm"
        r"|detector) (?:is )?(?:going off|beeping|sounding)",
    ),
    _rule(
        "overdose_poisoning",
        "overdose.fr.avale",
        r"(?:j ai|il a|elle a|on a|(?:mon|ma) (?:\w+ )?{FR_PERSON} a|je viens d|il vient d|elle vient d|j en ai|il en a"
        r"|elle en a) (?:\w+ )?(?:avale|pris|prise|ingere|bu|mange|injecte|gobe|enfile|pris d un coup|avaler|prendre"
        r"|ingerer|boire|manger|gober) (?:{FR_MANY} (?:\w+ )?{FR_PILLS}|{FR_CONTAINER}(?: de| d)?(?: \w+)?)(?! (?:en"
        r"|sur|pendant|depuis|par|chaque|cette|ce) (?:\d+ |deux |trois |quelques )?(?:jours?|semaines?|mois|an|matin"
        r"|soir|semaine))(?! (?:aujourd hui|ce matin|ce soir|comme prescrit|comme d habitude|comme prevu|a l heure"
        r"|de la journee|du jour|comme le medecin))",
    ),
    _rule(
        "overdose_poisoning",
        "overdose.fr.poison",
        r"(?:j ai|il a|elle a|on a|(?:mon|ma) (?:\w+ )?{FR_PERSON} a|le bebe a|l enfant a|le petit a|la petite a"
        r"|je viens d|il vient d|elle vient d)(?: \w+)? (?:bu|avale|mange|ingere|leche|inhale|croque|respire|mordu dans"
        r"|mis dans sa bouche) (?:\w+ ){0,3}?{FR_POISON}",
    ),
    _rule(
        "overdose_poisoning",
        "overdose.fr.intox",
        r"(?:je suis|il est|elle est|on est|j ai ete|il a ete|elle a ete|(?:mon|ma) (?:\w+ )?{FR_PERSON} (?:est|a ete))"
        r"(?: peut etre)? (?:empoisonnee?|intoxiquee?)|intoxication (?:au monoxyde|au co|medicamenteuse volontaire)"
        r"|monoxyde de carbone|detecteur de (?:co|monoxyde)(?: de carbone)? (?:sonne|bippe|s est declenche)",
    ),
    # -- bleeding ----------------------------------------------------------------------------------------
    _rule(
        "bleeding",
        "bleeding.en.wont_stop",
        r"(?:bleed\w*|blood(?! (?:pressure|sugar|tests?|work|glucose|counts?|levels?|results?|type|donation|draw))"
        r"|nosebleed|nose bleed|cut|wound|gash|it)(?: \w+){0,2}? {STOP}|(?:can t|unable to|couldn t|cannot"
        r"|not able to) (?:stop|control|slow) (?:the |his |her |my |this |that )?(?:bleeding|blood|bleed)|(?:won t"
        r"|doesn t|hasn t|isn t) stop\w* bleeding",
        requires=r"bleed\w*|blood|nosebleed|saign\w*|sang",
    ),
    _rule(
        "bleeding",
        "bleeding.en.heavy",
        r"(?:bleeding|losing blood|gushing blood|pouring blood|bleed|bleeds) (?:\w+ )?(?:heavily|a lot|badly|profusely"
        r"|everywhere|non ?stop|like crazy|so much|really bad|very badly|really badly|uncontrollably)|(?:heavy|severe"
        r"|massive|uncontrolled|uncontrollable|profuse|serious|major|so much|a lot of|lots of"
        r"|tons of) (?:\w+ )?(?:bleeding|blood loss|haemorrhag\w*|hemorrhag\w*)|(?:losing|lost|lose) (?:a lot of"
        r"|lots of|so much|too much|a large amount of|loads of) blood|blood (?:is |keeps )?(?:spurting|pouring|gushing"
        r"|squirting|pumping|everywhere)|(?:spurting|gushing|squirting) (?:out )?blood"
        r"|(?<!brain )(?<!cerebral )(?<!subconjunctival )(?<!intracranial )(?<!subarachnoid )(?:haemorrhag\w*"
        r"|hemorrhag\w*)",
        unless=r"periods?|menstrua\w*|cycle|regles|menstruations?",
    ),
    _rule(
        "bleeding",
        "bleeding.en.vomit",
        r"(?:vomiting|throwing up|puking|vomited|threw up|vomit|bringing up) (?:up )?(?:a lot of |lots of "
        r"|large amounts of |bright red |dark |fresh |some )?blood|blood in (?:my |his |her |the )?vomit"
        r"|vomit (?:looks |that looks )?like coffee grounds|(?:coughing|coughed|spitting|spat) up (?:a lot of|lots of"
        r"|large amounts of|so much|a cup of) blood",
    ),
    _rule(
        "bleeding",
        "bleeding.en.pads",
        r"soak\w* (?:through )?(?:a |one |more than one |two |\d+ )?(?:pads?|towels?|sanitary pads?|maxi pads?)"
        r" (?:\w+ ){0,2}?(?:an|every|per|in an|in one|in less than an|within an) hour|bleeding through (?:my |a )?pads?"
        r" (?:every|in|within)",
    ),
    _rule(
        "bleeding",
        "bleeding.pregnancy",
        r"bleeding|bleed|saigne\w*|saignements?|(?:losing|lost|passing) blood|pertes? de sang|perds du sang",
        requires=("{PREGNANT}", "{HEAVY}"),
    ),
    _rule(
        "bleeding",
        "bleeding.en.stabbed",
        r"{SUBJ} (?:just |ve |has |have |s )?(?:got|was|were|been|has been|have been|ve been|s been|just got|just been)"
        r" (?:stabbed|shot)(?! (?:at|down|up|by (?:a|the) (?:camera|photographer)))",
    ),
    _rule(
        "bleeding",
        "bleeding.fr.abondant",
        r"(?:saigne|saignes|saignent|saignait|saignement|saignements)(?: \w+){0,3}? (?:ne s arrete pas|ne s arrete"
        r" plus|s arrete pas|arrete pas|n arrete pas|qui ne s arrete pas|sans arret|sans s arreter|abondant|abondamment"
        r"|abondante|enormement|enorme|tres fort|de partout|a flots?|a gros bouillons|important|massif|massive"
        r"|incontrolable|incontrolables)|(?:saigne|saignes|saignent) (?:beaucoup|fort)",
        unless=r"regles|menstrua\w*|cycle|periods?",
    ),
    _rule(
        "bleeding",
        "bleeding.fr.arreter",
        r"(?:{FR_CANT}) (?:arreter|stopper|controler|calmer) (?:le |la |les |ce |cette )?(?:saignement|sang|hemorragie)"
        r"|(?:ca |il |elle |je |le sang |la plaie )?(?:ne |n )?(?:s arrete|arrete|cesse) (?:pas|plus) de (?:saigner"
        r"|couler)",
    ),
    _rule(
        "bleeding",
        "bleeding.fr.perd",
        r"(?:perds|perd|perdu|perdre|perdons) (?:beaucoup|enormement|trop|plein|vraiment beaucoup) de sang"
        r"|(?:le )?sang (?:gicle|coule a flots|jaillit|pisse|ne s arrete pas|coule partout|coule sans arret)"
        r"|hemorragie(?! (?:cerebrale|meningee|intracranienne|sous|conjonctivale))",
    ),
    _rule(
        "bleeding",
        "bleeding.fr.vomit",
        r"(?:vomis|vomit|vomi|vomir|vomissements?|vomissent) (?:du |de |de la )?sang|crach\w* (?:beaucoup|enormement"
        r"|plein|un verre) de sang|poignarde\w*|coup de couteau|coups de couteau|blesse\w* par balle",
    ),
    # -- unconscious, seizure ----------------------------------------------------------------------------
    _rule(
        "unconscious_seizure",
        "unconscious.en.unconscious",
        r"unconscious|unresponsive|lifeless|passed out|fainted|blacked out|collapsed|lost consciousness"
        r"|losing consciousness|keep(?:s)? (?:fainting|passing out|blacking out)|cardiac arrest|no pulse|(?:doing"
        r"|giving|performing|started|need to do|needs) cpr",
    ),
    _rule(
        "unconscious_seizure",
        "unconscious.en.wont_wake",
        r"(?:he|she|they|my (?:\w+ )?{PERSON}|the (?:baby|child|kid|toddler)) (?:s |is |are |re )?(?:isn t|aren t|won t"
        r"|doesn t|didn t|can t|hasn t|not|will not|still not|keeps not) (?:responding|respond|waking up|wake up"
        r"|woken up|moving|move|opening (?:his|her|their) eyes|open (?:his|her|their) eyes)|can t wake (?:him|her|them"
        r"|my (?:\w+ )?{PERSON}|the (?:baby|child|kid))|(?:baby|child|toddler|infant|son|daughter|he|she) (?:is |s "
        r"|seems |looks |has gone |went |is very |s very )?(?:very |really |so |all )?(?:floppy|limp)(?! (?:wrist"
        r"|handshake))",
    ),
    _rule(
        "unconscious_seizure",
        "unconscious.en.seizing",
        r"(?:is|s|are|re|keeps?|started|won t stop|keep|been|m) (?:seizing|convulsing|having fits"
        r"|shaking and (?:unresponsive|not responding|won t wake))|convulsions?|seizure (?:that )?(?:won t stop"
        r"|isn t stopping|is not stopping|lasting|for (?:over |more than |about )?\d+ min\w*)|(?:first"
        r"|first ever) seizure",
    ),
    *_events("unconscious_seizure", "unconscious.seizure", _SEIZURE, _FR_SEIZURE),
    _rule(
        "unconscious_seizure",
        "unconscious.en.head_injury",
        r"(?:hit|hurt|banged|bumped|struck) (?:my|his|her|their) head(?: \w+){0,6}? (?:passed out|knocked out|vomit\w*"
        r"|throwing up|confused|unconscious|blacked out|won t wake|can t remember)",
    ),
    _rule(
        "unconscious_seizure",
        "unconscious.fr.connaissance",
        r"inconscient\w*|inanime\w*|perte de connaissance|perdu connaissance|perd connaissance|perdre connaissance"
        r"|(?:s est|me suis|se sont|s etait) evanoui\w*|evanoui\w*|evanouissement|tombee? dans les pommes"
        r"|arret cardiaque|massage cardiaque|bouche a bouche|(?:s est|se sont) effondree?s?|(?:bebe|enfant"
        r"|nourrisson) (?:est |tout |toute |tres )*(?:mou|molle)",
    ),
    _rule(
        "unconscious_seizure",
        "unconscious.fr.repond",
        r"(?:il|elle|ils|elles|(?:mon|ma|notre) (?:\w+ )?{FR_PERSON}|le bebe|l enfant|le petit|la petite) (?:ne |n )?"
        r"(?:repond|reagit|se reveille|ouvre (?:pas|plus) les yeux|bouge) (?:plus|pas)(?! (?:a|au|aux|de|d|du|des)\b)"
        r"|(?:{FR_CANT}) (?:le|la|les) reveiller",
    ),
    _rule(
        "unconscious_seizure",
        "unconscious.fr.convulse",
        r"convulse\w*|en train de convulser|crise d epilepsie qui (?:dure|ne s arrete pas)|premiere crise d epilepsie"
        r"|(?:je|j|il|elle|(?:mon|ma) (?:\w+ )?{FR_PERSON}) (?:\w+ )?(?:fais|fait|ai fait|a fait|viens de faire"
        r"|vient de faire|suis en train de faire|est en train de faire) un malaise",
    ),
    # -- diabetic emergencies ----------------------------------------------------------------------------
    _rule("diabetic_emergency", "diabetic.hypo_severe", _HYPO, requires="{SEVERE_SX}"),
    _rule(
        "diabetic_emergency",
        "diabetic.hypo_named_severe",
        r"(?:severe|bad|serious|major) (?:hypo|hypoglyc\w*)|(?:hypo|hypoglyc\w*) (?:severe|grave|serieuse|profonde)"
        r"|coma (?:hypoglycemique|diabetique)"
        r"|diabetic coma",
    ),
    _rule(
        "diabetic_emergency",
        "diabetic.high_severe",
        r"(?:blood )?(?:sugar|glucose|bg|glycemie|sucre)s? (?:is |s |are |re |keeps |est |a )?(?:very |really "
        r"|extremely |super |dangerously |tres |trop |vraiment )?(?:high|through the roof|sky high|off the charts|haute"
        r"|elevee|explose|explosee)",
        requires="{DKA_SX}",
    ),
    _rule("diabetic_emergency", "diabetic.glucose_low", _GLUCOSE, requires="{SEVERE_SX}", check=_glucose_low),
    _rule("diabetic_emergency", "diabetic.glucose_high", _GLUCOSE, requires="{DKA_SX}", check=_glucose_high),
    _rule(
        "diabetic_emergency",
        "diabetic.meter_hi_lo",
        r"(?:meter|glucometer|monitor|cgm|dexcom|libre|sensor|reader|lecteur|capteur|glucometre|appareil"
        r"|freestyle)(?: \w+){0,2}? (?:says|shows|reads|displays|showing|reading|just says|indique|affiche|marque"
        r"|dit) \"?(?:hi|lo)",
    ),
    _rule(
        "diabetic_emergency",
        "diabetic.ketones_value",
        r"(?:blood )?(?:ketones?|cetones?|cetonemie)(?: \w+){0,3}? (?P<value>\d{1,2}(?:[.,]\d{1,2})?) ?(?:mmol)?",
        check=_ketones_high,
    ),
    _rule(
        "diabetic_emergency",
        "diabetic.ketones_high",
        r"(?:ketones?|cetones?|cetonemie|cetonurie)(?: \w+){0,3}? (?:high|very high|large|moderate|positive|\+\+\+?"
        r"|elevees?|fortes?|positives?)|(?:high|large|moderate) ketones|(?:dka|ketoacidosis|acidocetose|cetoacidose"
        r"|acido cetose)",
        requires="{DKA_SX}",
    ),
    *_events("diabetic_emergency", "diabetic.dka", _DKA, _FR_DKA),
    # -- meningitis signs --------------------------------------------------------------------------------
    _rule(
        "meningitis_signs",
        "meningitis.stiff_neck",
        r"stiff neck|neck (?:is |feels )?(?:very |really |so )?stiff|(?:can t|unable to) (?:bend|touch|put|get) (?:my "
        r"|his |her |their )?(?:neck|chin to (?:my|his|her|their) chest)|nuque (?:tres |vraiment )?raide"
        r"|raideur (?:de la |dans la |a la )?nuque",
        requires="{FEVER}",
    ),
    _rule(
        "meningitis_signs",
        "meningitis.rash",
        r"rash (?:that |which )?(?:doesn t|does not|won t|didn t|not|isn t) (?:fade|go away|disappear"
        r"|blanch\w*) (?:under|when|with|if) (?:i |you )?(?:press )?(?:a |the )?(?:glass|tumbler)|(?:non ?blanching"
        r"|nonblanching) rash|(?:purple|dark red) (?:spots|rash|blotches|pinpricks) (?:\w+ ){0,4}?(?:fever|glass"
        r"|don t fade|not fading)|purpura fulminans|taches? (?:violettes|pourpres|rouges)? ?qui ne (?:s effacent"
        r"|disparaissent|partent) pas (?:sous|quand|avec|a la pression)|purpura",
    ),
]


# -- what drops a match --------------------------------------------------------------------------------

_NEGATOR = _re(
    r"no|not|never|without|none|nor|neither|denies|denied|deny|don t (?:have|get|feel|think i have|experience|suffer"
    r"|want|wish|plan|intend)|didn t want"
    r"|doesn t (?:have|get|feel)|didn t (?:have|get|feel|experience)|haven t (?:had|got|felt|noticed|experienced)"
    r"|hasn t (?:had|got)|isn t|aren t|wasn t|weren t|free of|absence of|negative for|ruled out"
    r"|pas|plus de(?! \d)|plus d(?! \d)|aucun|aucune|aucuns|sans|jamais|ni|n ai plus|ne \w+ (?:pas|plus|jamais|point)"
    r"|n \w+ (?:pas|plus|jamais)|ai plus de|non"
)
_PSEUDO_NEGATOR = _re(
    r"not sure|not certain|not know|not only|not just|not well|not feeling (?:well|good|great|right|ok|okay)"
    r"|not feel (?:well|good|right)|not good|not ok|not okay|not right|not normal|not myself|not a joke|not kidding"
    r"|not joking|not stop\w*|not go\w* away|not get\w* better|not improv\w*|not better|no idea|no clue|no one"
    r"|no matter|no way|no joke|no kidding|nobody|don t know|don t understand|don t feel (?:well|good|right|ok|okay)"
    r"|doesn t know|didn t know|never (?:had|felt|experienced|been|seen|known)(?: \w+){0,6}? (?:like this|like that"
    r"|this bad|so bad|this strong|this much|so much|this way)|(?:can t|couldn t|unable to) \w+(?: \w+)? without"
    r"|sais pas|ne sais|ne savais|pas sur|pas sure|pas certaine?|pas bien|pas du tout bien|pas normal|pas la forme"
    r"|pas mal de|pas mal d|pas grave|pas quoi faire|pas comment|pas pourquoi|de plus en plus|encore plus|plus fort"
    r"|plus forte|plus intense|plus que|jamais (?:eu|ressenti|vu|connu)(?: \w+){0,4}? (?:aussi|autant|si|une telle"
    r"|un tel|comme ca|pareil|pareille)|(?:ne )?(?:peux|peut|arrive) (?:pas|plus) (?:a )?\w+(?: \w+)? sans|n importe"
    r"|ne comprends pas|personne|pas seul|pas seule|ne \w+ pas a \w+|n \w+ pas a \w+"
)
_RESOLVED = re.compile(  # matched right after the phrase, to the end of its clause
    r"\s*(?:(?:is|has|have|had|was|s)\s+(?:now\s+|completely\s+|totally\s+|finally\s+|all\s+)?(?:gone|disappeared"
    r"|resolved|stopped|passed)|went away|gone|(?:a|est|s est)\s+(?:maintenant\s+|completement\s+"
    r"|enfin\s+)?(?:disparue?|partie?|passee?|arretee?|cessee?)|disparue?)(?!\w)"
)
_HYPOTHETICAL = _re(
    r"if|in case|in the event of|suppose|supposing|imagine|hypothetically|what happens when|watch out for|look out for"
    r"|watch for|warned (?:me )?(?:about|of)|be careful (?:of|about)|when (?:someone|somebody|a person|people|you)"
    r" (?:has|have|is|are|gets?|feels?)|asked (?:me )?(?:if|whether)"
    r"|si (?:je|j|on|il|elle|ils|elles|quelqu un|quelqu|mon|ma|mes|vous|tu|un|une|le|la|les|l|c est|ca)|s il|s ils"
    r"|en cas d|en cas de|au cas ou|imaginons|supposons|admettons|quand on|lorsqu on|lorsque on|quand quelqu un"
    r"|lorsque quelqu un|m a demande si|surveiller|faire attention (?:a|aux)|m a (?:prevenu|averti) (?:de|du|des)"
)
_WHETHER = re.compile(
    r"(?:know|sure|wonder|wondering|tell|check|see|unsure|certain|ask|asking|idea|clue|understand|sais|savoir|demande"
    r"|sur|sure|certain|certaine|verifier|voir|dire|comprends)\s+$"
)
_NOW = _re("{NOW}")
_PAST = _re(
    r"(?:\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|several|a few|few|many|some|couple of"
    r"|a couple of) (?:years?|months?|weeks?|decades?) ago|last (?:year|month|week|summer|winter|spring|autumn|fall"
    r"|christmas|monday|tuesday|wednesday|thursday|friday|saturday|sunday)|in (?:19|20)\d\d|back in (?:19|20)\d\d"
    r"|back in the day|as a (?:child|kid|teen|teenager|baby)|when i was (?:a |young|little|younger|\d)|history of"
    r"|in the past|used to|years back|past medical|il y a (?:\d+|un|une|deux|trois|quatre|cinq|six|dix|plusieurs"
    r"|quelques|des|bien des) (?:ans|annees|an|mois|semaines|decennies)|l an (?:dernier|passe)|l annee (?:derniere"
    r"|passee)|le mois (?:dernier|passe)|la semaine (?:derniere|passee)|(?:lundi|mardi|mercredi|jeudi|vendredi|samedi"
    r"|dimanche) (?:dernier|passe)|en (?:19|20)\d\d|quand j etais (?:petit|petite|jeune|enfant|ado|bebe)|dans (?:mon"
    r"|ma) (?:enfance|jeunesse)|antecedents?|dans le passe|autrefois|par le passe|a l epoque"
)
_CHRONIC = _re(
    r"for (?:\d+|many|several|a few|two|three|ten|some) (?:years|months)|for years|for ages|since (?:childhood|i was"
    r" a (?:child|kid|teen))|all my life|my whole life|depuis (?:\d+|des|plusieurs|quelques|deux|trois|dix) (?:ans"
    r"|annees|mois)|depuis des annees|depuis toujours|depuis l enfance|depuis tout petit|toute ma vie"
)
_EDUCATIONAL = _re(
    r"what (?:are|is|s|re) (?:the |some |common |typical )?(?:early |warning |typical |first |main |usual "
    r"|common )?(?:signs?|symptoms?|causes?|risks?|risk factors|treatments?|difference|definition|meaning|chances|odds"
    r"|statistics)|what (?:is|are|s) (?:an? )?|what causes|what does(?: \w+){1,6} mean|signs? of|symptoms? of"
    r"|warning signs|how (?:do|does|can|would|could|should|is|are) (?:you |i |we |one |people |someone |a person "
    r"|doctors )?(?:know|tell|recogni[sz]e|spot|prevent|avoid|treat|identify|detect|check|diagnose)"
    r"|how to (?:recogni[sz]e|spot|prevent|avoid|treat|tell|know|identify|help)|(?:can|could|does|do|will|may"
    r"|might) (?:a |an |the )?\w+(?: \w+)? (?:cause|lead to|trigger|give you|make you|result in)|is it normal"
    r"|difference between|tell me about|explain|definition of|in general|generally|statistically|statistics|risk of"
    r"|risk factors?|prevent\w*|first aid for|i (?:read|saw|heard|watched) (?:that|about|an article|a video"
    r"|a documentary|on)|article|documentary|for (?:a|my) (?:school|class|essay|exam|project|course|presentation"
    r"|homework)|quels? (?:sont|est) (?:les? |la |des )?(?:premiers |principaux |differents )?(?:signes?|symptomes?"
    r"|causes?|risques?|traitements?|differences?)|signes? (?:d|de|du|des|annonciateurs|avant coureurs)|symptomes? (?:d"
    r"|de|du|des)|c est quoi|qu est ce qu(?:e|i|e c est)?|comment (?:reconnaitre|savoir|eviter|prevenir|reagir|detecter"
    r"|identifier|faire la difference|on sait|sait on|soigner|traiter|aider)|que faire (?:si|en cas|quand|lorsqu)"
    r"|(?:peut|peuvent) (?:il |elle |on |ils )?(?:provoquer|causer|donner|entrainer)|difference entre|definition"
    r"|explique|expliquer|en general|generalement|statistiques?|risques? (?:d|de)|facteurs? de risque|preven\w+"
    r"|premiers secours|j ai (?:lu|vu|entendu) (?:que|un article|une video|un documentaire|a la tele)|documentaire"
    r"|pour (?:un|mon|ma|une) (?:expose|devoir|examen|cours|memoire|projet|these)"
)
_INTERROGATIVE = _re(
    r"^(?:what|why|how|when|which|who|whom|whose|can(?! t)|could|does|do|is|are|should|would|will|may|might|quel|quels"
    r"|quelle|quelles|pourquoi|comment|quand|qui|que|quoi|est ce|peut on|peut il|peut elle|faut il|doit on|combien)"
)
_PERSONAL = _re(
    r"i|i m|i ve|i d|i ll|me|my|mine|myself|we|us|our|he|she|him|her|his|hers|they|them|their|{PERSON}"
    r"|je|j|moi|mon|ma|mes|nous|il|elle|lui|ils|elles|leur|{FR_PERSON}"
)


@dataclass
class _Clause:
    """What the filters need from one clause, computed once: the text with pseudo-negators blanked, where the
    negators and the hypothetical cues are, whether it speaks of the past or of a person."""

    start: int
    end: int
    blanked: str
    negators: list[tuple[int, int]]
    hypotheticals: list[int]  # where each "if / si ..." cue ends (not the "know if" kind)
    past: bool
    chronic: bool
    personal: bool  # names a person once educational wording is blanked


class _Message:
    """One normalised message, cut into sentences and clauses, with per-clause and per-sentence work cached so a
    long message costs one pass per rule."""

    def __init__(self, text: str):
        self.text = text
        self.sentences = _spans(text, _SENTENCE_END)
        self.clauses = _spans(text, _CLAUSE_END)
        self._sentence_starts = [start for start, _ in self.sentences]
        self._clause_starts = [start for start, _ in self.clauses]
        self._clause_cache: dict[int, _Clause] = {}
        self._sentence_cache: dict[int, tuple[bool, bool]] = {}
        self._present_cache: dict[str, bool] = {}

    def clause(self, position: int) -> _Clause:
        start, end = self.clauses[bisect_right(self._clause_starts, position) - 1]
        if start not in self._clause_cache:
            text = self.text[start:end]
            blanked = _PSEUDO_NEGATOR.sub(lambda m: " " * len(m.group()), text)
            hypotheticals = [
                cue.end() for cue in _HYPOTHETICAL.finditer(text) if not _WHETHER.search(text[: cue.start()])
            ]
            self._clause_cache[start] = _Clause(
                start=start,
                end=end,
                blanked=blanked,
                negators=[(m.start(), m.end()) for m in _NEGATOR.finditer(blanked)],
                hypotheticals=hypotheticals,
                past=bool(_PAST.search(text)),
                chronic=bool(_CHRONIC.search(text)),
                personal=bool(_PERSONAL.search(_EDUCATIONAL.sub(lambda m: " " * len(m.group()), text))),
            )
        return self._clause_cache[start]

    def sentence(self, position: int) -> tuple[int, int]:
        return self.sentences[bisect_right(self._sentence_starts, position) - 1]

    def sentence_flags(self, position: int) -> tuple[bool, bool]:
        """(educational, says now) for the sentence around this position."""
        start, end = self.sentence(position)
        if start not in self._sentence_cache:
            sentence = self.text[start:end]
            question = sentence.rstrip().endswith("?") and bool(_INTERROGATIVE.search(sentence.strip()))
            educational = question or bool(_EDUCATIONAL.search(sentence))
            self._sentence_cache[start] = (educational, bool(_NOW.search(sentence)))
        return self._sentence_cache[start]

    def negated(self, match_start: int, match_end: int) -> bool:
        # A negator counts when it starts before the match, even if it runs into it ("I don't | want to die"),
        # with at most 5 words between it and the match.
        clause = self.clause(match_start)
        offset = match_start - clause.start
        index = bisect_left(clause.negators, (offset, -1)) - 1
        if index >= 0:
            gap_start = min(clause.negators[index][1], offset)
            if offset - gap_start <= 150 and len(clause.blanked[gap_start:offset].split()) <= 5:
                return True
        return bool(_RESOLVED.match(self.text, match_end, clause.end))

    def hypothetical(self, match_start: int) -> bool:
        clause = self.clause(match_start)
        offset = match_start - clause.start
        return any(end <= offset for end in clause.hypotheticals) and not self.sentence_flags(match_start)[1]

    def present(self, pattern: re.Pattern) -> bool:
        """Whether the pattern occurs somewhere in the message without a negation before it."""
        if pattern.pattern not in self._present_cache:
            self._present_cache[pattern.pattern] = any(
                not self.negated(match.start(), match.end()) for match in pattern.finditer(self.text)
            )
        return self._present_cache[pattern.pattern]

    def counts(self, rule: _Rule, match: re.Match) -> bool:
        """Whether a pattern match is a red flag: not negated, hypothetical, past or educational."""
        if rule.check is not None and not rule.check(match):
            return False
        if rule.unless is not None and rule.unless.search(self.text, *self.sentence(match.start())):
            return False
        if self.negated(match.start(), match.end()) or self.hypothetical(match.start()):
            return False
        clause = self.clause(match.start())
        if clause.past or (clause.chronic and rule.category not in CRISIS_CATEGORIES):
            return False
        if not rule.framed and self.sentence_flags(match.start())[0] and not clause.personal:
            return False
        return all(self.present(required) for required in rule.requires)


def red_flag_check(text: str) -> RedFlag | None:
    """The emergency a message describes, or None. Pure and fast: precompiled patterns, no I/O."""
    normalised = normalise(text or "")
    if not normalised:
        return None
    message = _Message(normalised)
    found: dict[str, str] = {}
    for rule in _RULES:
        if rule.category in found:
            continue
        if any(message.counts(rule, match) for match in rule.regex.finditer(normalised)):
            found[rule.category] = rule.name
    if not found:
        return None
    ordered = tuple(sorted(found, key=CATEGORIES.index))
    return RedFlag(category=ordered[0], categories=ordered, rules=tuple(found[c] for c in ordered))


# -- numbers and guidance ----------------------------------------------------------------------------------

_COUNTRY_ALIASES = {"UK": "GB", "EN": "GB"}


@cache
def _numbers_data() -> dict:
    with (DATA_DIR / "emergency_numbers.toml").open("rb") as handle:
        return tomllib.load(handle)


@cache
def _guidance_data() -> dict:
    with (DATA_DIR / "red_flag_guidance.toml").open("rb") as handle:
        return tomllib.load(handle)


def _language(language: str) -> str:
    return "fr" if (language or "").lower().startswith("fr") else "en"


def _country_numbers(country: str) -> dict:
    data = _numbers_data()
    code = (country or "").strip().upper()
    code = _COUNTRY_ALIASES.get(code, code)
    return data.get(code) if code in data and code != "fallback" else data["fallback"]


def emergency_numbers(country: str, *, language: str = "en") -> list[tuple[str, str]]:
    """Every number for the patient's country as (number, label), emergency first, then crisis lines, poison
    centre and text services. Unknown or empty country: 112."""
    entry, lang = _country_numbers(country), _language(language)
    return [
        (item["number"], item[lang])
        for kind in ("emergency", "crisis", "poison", "text")
        for item in entry.get(kind, [])
    ]


def _call(items: list[dict], lang: str, joiner: str) -> str:
    names = []
    for item in items:
        short = item.get(f"short_{lang}")
        names.append(f"{item['number']} ({short})" if short else item["number"])
    return f" {joiner} ".join(names)


def guidance(flag: RedFlag, *, country: str, language: str) -> str:
    """The fixed Markdown reply to a red flag, in the patient's language, with their country's numbers."""
    lang = _language(language)
    texts = _guidance_data()
    common = texts["common"][lang]
    entry = _country_numbers(country)
    crisis = [item for item in entry.get("crisis", []) if item.get("always24h")]
    call_emergency = _call(entry["emergency"][:2], lang, common["or"])
    call_crisis = _call(crisis[:1], lang, common["or"])

    if flag.category in CRISIS_CATEGORIES:
        lead = [common["lead_crisis"].format(numbers=call_crisis)] if crisis else []
        lead.append(common["danger"].format(numbers=call_emergency))
    else:
        lead = [common["lead"].format(numbers=call_emergency)]
        if flag.crisis and crisis:
            lead.append(common["talk"].format(numbers=call_crisis))
    lines: list[str] = []
    for line in lead:
        lines += [f"**{line}**", ""]

    category = texts[flag.category][lang]
    lines += [category["intro"], ""]
    lines += [f"- {step}" for step in category["steps"]]
    if flag.category not in CRISIS_CATEGORIES:
        lines.append(f"- {common['someone_else']}")

    kinds = ["emergency"]
    if flag.crisis or flag.category == "overdose_poisoning":
        kinds.append("crisis")
    if "overdose_poisoning" in flag.categories:
        kinds.append("poison")
    kinds.append("text")
    # One line per number: a number listed twice (France's 15 is also the way to a poison centre) keeps
    # both labels.
    labels: dict[str, list[str]] = {}
    for kind in kinds:
        for item in entry.get(kind, []):
            labels.setdefault(item["number"], []).append(item[lang])
    colon, semicolon = (" :", " ; ") if lang == "fr" else (":", "; ")
    lines += ["", f"**{common['numbers']}**", ""]
    lines += [f"- **{number}**{colon} {semicolon.join(label)}" for number, label in labels.items()]
    if flag.crisis and not crisis:
        lines.append(f"- {common['helpline_finder']}")
    lines += ["", f"_{common['not_sent']}_"]
    return "\n".join(lines)
