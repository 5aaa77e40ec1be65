"""The red-flag check (`chat.safety`): what fires, what does not, and the fixed guidance it answers with.

Pure functions: no database. The tables are what a patient may type, in English and French, with and
without accents, in capitals, with typos; the rules they exercise are described in chat/safety.py.
"""

import re
import time

import pytest

from chat.safety import CATEGORIES, RedFlag, emergency_numbers, guidance, normalise, red_flag_check

# -- what fires -------------------------------------------------------------------------------------------

POSITIVES = [
    # chest pain
    ("chest_pain", "my chest hurts"),
    ("chest_pain", "CHEST PAIN"),
    ("chest_pain", "I have crushing chest pain and my left arm is numb"),
    ("chest_pain", "no, I have chest pain now"),
    ("chest_pain", "I think I'm having a heart attack"),
    ("chest_pain", "am I having a heart attack?"),
    ("chest_pain", "Chest pain after pizza"),
    ("chest_pain", "pressure in my chest and pain going down my left arm"),
    ("chest_pain", "tight chest, can't catch my breath"),
    ("chest_pain", "I don't know why but my chest hurts"),
    ("chest_pain", "I've never felt chest pain like this"),
    ("chest_pain", "I had no chest pain yesterday but today it hurts in my chest"),
    ("chest_pain", "how do I know if my chest pain is serious?"),
    ("chest_pain", "j'ai mal à la poitrine"),
    ("chest_pain", "J AI MAL A LA POITRINE"),
    ("chest_pain", "jai mal a la poitrine depuis ce matin"),
    ("chest_pain", "douleur thoracique"),
    ("chest_pain", "DOULEUR THORACIQUE"),
    ("chest_pain", "j'ai une oppression thoracique"),
    ("chest_pain", "ma poitrine me serre très fort"),
    ("chest_pain", "douleur dans la poitrine qui monte dans la mâchoire"),
    ("chest_pain", "je crois que je fais un infarctus"),
    ("chest_pain", "mon mari fait un infarctus"),
    ("chest_pain", "c'est une crise cardiaque ?"),
    ("chest_pain", "j'ai jamais eu aussi mal à la poitrine"),
    # stroke
    ("stroke", "face drooping"),
    ("stroke", "my face is drooping on one side"),
    ("stroke", "his speech is slurred and his face looks lopsided"),
    ("stroke", "I think I'm having a stroke"),
    ("stroke", "my dad is having a stroke"),
    ("stroke", "I think my mom just had a stroke"),
    ("stroke", "is this a stroke?"),
    ("stroke", "my husband suddenly can't speak"),
    ("stroke", "slurred speech and can't lift my right arm"),
    ("stroke", "sudden weakness on my left side"),
    ("stroke", "I suddenly can't see out of my left eye"),
    ("stroke", "bouche de travers"),
    ("stroke", "il a la bouche de travers"),
    ("stroke", "je n'arrive plus à parler"),
    ("stroke", "Je narrive plus a parler"),
    ("stroke", "je fais un AVC"),
    ("stroke", "je crois que mon père fait un AVC"),
    ("stroke", "je crois que j'ai fait un AVC"),
    ("stroke", "Quels sont les signes d'un AVC, j'ai la bouche de travers"),
    ("stroke", "je ne sens plus mon bras gauche"),
    ("stroke", "elle ne peut plus parler et son visage est de travers"),
    ("stroke", "j'ai la parole pâteuse et le bras engourdi d'un coup"),
    # sudden severe headache
    ("severe_headache", "worst headache of my life"),
    ("severe_headache", "sudden severe headache"),
    ("severe_headache", "le pire mal de tête de ma vie"),
    ("severe_headache", "mal de tête brutal"),
    # anaphylaxis
    ("anaphylaxis", "my throat is closing up"),
    ("anaphylaxis", "my tongue is swelling"),
    ("anaphylaxis", "my lips are swelling after a bee sting"),
    ("anaphylaxis", "my son's face is swelling up after eating peanuts"),
    ("anaphylaxis", "I'm having a severe allergic reaction"),
    ("anaphylaxis", "I used my epipen"),
    ("anaphylaxis", "ma gorge se ferme après avoir mangé des cacahuètes"),
    ("anaphylaxis", "ses lèvres gonflent après une piqûre de guêpe"),
    ("anaphylaxis", "je fais un choc anaphylactique"),
    ("anaphylaxis", "réaction allergique grave"),
    ("anaphylaxis", "oedeme de Quincke"),
    # breathing
    ("breathing", "I can't breathe"),
    ("breathing", "I cant breath"),
    ("breathing", "help i cant breathe"),
    ("breathing", "I can barely breathe"),
    ("breathing", "struggling to breathe"),
    ("breathing", "difficulty breathing"),
    ("breathing", "he is not breathing"),
    ("breathing", "my baby is not breathing"),
    ("breathing", "he's choking"),
    ("breathing", "my son's lips are turning blue"),
    ("breathing", "short of breath at rest"),
    ("breathing", "he's turning blue"),
    ("breathing", "I'm having a severe asthma attack and my inhaler isn't working"),
    ("breathing", "je ne peux plus respirer"),
    ("breathing", "Je peux plus respirer"),
    ("breathing", "j'arrive pas à respirer"),
    ("breathing", "je n'arrive plus a respirer"),
    ("breathing", "j'ai du mal à respirer"),
    ("breathing", "j'étouffe"),
    ("breathing", "je suffoque"),
    ("breathing", "il ne respire plus"),
    ("breathing", "ma fille fait une crise d'asthme et la ventoline ne fait rien"),
    # suicide and self-harm
    ("suicide_self_harm", "I want to kill myself"),
    ("suicide_self_harm", "I want to die"),
    ("suicide_self_harm", "i wanna die lol"),
    ("suicide_self_harm", "I don't want to live anymore"),
    ("suicide_self_harm", "I'm going to end it all tonight"),
    ("suicide_self_harm", "i feel suicidal"),
    ("suicide_self_harm", "thinking about suicide"),
    ("suicide_self_harm", "I've been cutting myself"),
    ("suicide_self_harm", "I want to hurt myself"),
    ("suicide_self_harm", "I wrote a suicide note"),
    ("suicide_self_harm", "life isn't worth living"),
    ("suicide_self_harm", "everyone would be better off without me"),
    ("suicide_self_harm", "I've wanted to die for years"),
    ("suicide_self_harm", "je veux mourir"),
    ("suicide_self_harm", "envie d'en finir"),
    ("suicide_self_harm", "j'ai envie d'en finir"),
    ("suicide_self_harm", "je n'ai plus envie de vivre"),
    ("suicide_self_harm", "je ne veux plus vivre"),
    ("suicide_self_harm", "je veux me suicider"),
    ("suicide_self_harm", "je vais me foutre en l'air"),
    ("suicide_self_harm", "j'ai des idées noires"),
    ("suicide_self_harm", "je pense au suicide"),
    ("suicide_self_harm", "j'ai envie de disparaître"),
    ("suicide_self_harm", "je vais mettre fin à mes jours"),
    ("suicide_self_harm", "je me scarifie"),
    ("suicide_self_harm", "je me suis ouvert les veines"),
    ("suicide_self_harm", "la vie ne vaut pas la peine"),
    # overdose and poisoning
    ("overdose_poisoning", "I took 20 pills"),
    ("overdose_poisoning", "I took 15 sleeping pills"),
    ("overdose_poisoning", "I just swallowed a whole bottle of tylenol"),
    ("overdose_poisoning", "I took a handful of oxycodone"),
    ("overdose_poisoning", "I took a bottle of pills"),
    ("overdose_poisoning", "I took too much insulin"),
    ("overdose_poisoning", "i think i overdosed"),
    ("overdose_poisoning", "I OD'd"),
    ("overdose_poisoning", "he overdosed on heroin"),
    ("overdose_poisoning", "my son drank bleach"),
    ("overdose_poisoning", "my toddler swallowed a button battery"),
    ("overdose_poisoning", "my daughter ate some of my pills"),
    ("overdose_poisoning", "our CO alarm is going off and we all have headaches"),
    ("overdose_poisoning", "j'ai avalé toute la boîte"),
    ("overdose_poisoning", "J'ai avale toute la boite de doliprane"),
    ("overdose_poisoning", "j'ai pris 30 comprimés de paracétamol"),
    ("overdose_poisoning", "je viens d'avaler 20 cachets"),
    ("overdose_poisoning", "j'ai pris une boîte entière de somnifères"),
    ("overdose_poisoning", "j'ai fait une overdose"),
    ("overdose_poisoning", "mon fils a bu de la javel"),
    ("overdose_poisoning", "mon fils a avalé des médicaments"),
    # bleeding
    ("bleeding", "the bleeding won't stop"),
    ("bleeding", "I cut my hand and it won't stop bleeding"),
    ("bleeding", "I'm bleeding heavily"),
    ("bleeding", "blood is pouring out of the cut"),
    ("bleeding", "I can't stop the bleeding"),
    ("bleeding", "I'm vomiting blood"),
    ("bleeding", "I'm coughing up a lot of blood"),
    ("bleeding", "I'm 10 weeks pregnant and bleeding heavily"),
    ("bleeding", "soaking through a pad every hour after giving birth"),
    ("bleeding", "I've been stabbed"),
    ("bleeding", "je saigne beaucoup"),
    ("bleeding", "le saignement ne s'arrête pas"),
    ("bleeding", "ça n'arrête pas de saigner"),
    ("bleeding", "il perd beaucoup de sang"),
    ("bleeding", "je vomis du sang"),
    ("bleeding", "hémorragie"),
    ("bleeding", "je suis enceinte et je saigne beaucoup avec des caillots"),
    # unconscious, seizure
    ("unconscious_seizure", "my wife passed out and won't wake up"),
    ("unconscious_seizure", "he is unconscious"),
    ("unconscious_seizure", "he collapsed"),
    ("unconscious_seizure", "she fainted and isn't responding"),
    ("unconscious_seizure", "I can't wake my husband up"),
    ("unconscious_seizure", "my son is having a seizure"),
    ("unconscious_seizure", "my son just had a seizure"),
    ("unconscious_seizure", "my daughter is convulsing"),
    ("unconscious_seizure", "the baby is floppy"),
    ("unconscious_seizure", "he hit his head and passed out"),
    ("unconscious_seizure", "elle a perdu connaissance"),
    ("unconscious_seizure", "elle s'est évanouie"),
    ("unconscious_seizure", "Tombé dans les pommes"),
    ("unconscious_seizure", "mon père ne répond plus"),
    ("unconscious_seizure", "elle ne se réveille pas"),
    ("unconscious_seizure", "il fait une crise d'épilepsie"),
    ("unconscious_seizure", "il convulse"),
    ("unconscious_seizure", "mon bébé est tout mou"),
    ("unconscious_seizure", "je viens de faire un malaise"),
    # diabetic emergencies
    ("diabetic_emergency", "my blood sugar is 40 and I'm confused"),
    ("diabetic_emergency", "glucose 2.1 mmol/L, he is very drowsy"),
    ("diabetic_emergency", "glucose 25 mg/dl, he's unresponsive"),
    ("diabetic_emergency", "hypo and she's confused"),
    ("diabetic_emergency", "my blood sugar is dropping and I feel confused"),
    ("diabetic_emergency", "sugar 450 mg/dL and vomiting"),
    ("diabetic_emergency", "my sugar is 520 and I'm breathing fast"),
    ("diabetic_emergency", "my meter says HI"),
    ("diabetic_emergency", "ketones 3.8 mmol"),
    ("diabetic_emergency", "high ketones and I keep throwing up"),
    ("diabetic_emergency", "I think I'm in DKA"),
    ("diabetic_emergency", "ma glycémie est à 0,4 g/L et je suis confuse"),
    ("diabetic_emergency", "glycémie à 4,5 g/l, je vomis"),
    ("diabetic_emergency", "en hypo et très confus"),
    ("diabetic_emergency", "sucre à 35 mg/dl et il est très confus"),
    ("diabetic_emergency", "mon capteur affiche LO"),
    ("diabetic_emergency", "je fais une acidocétose"),
    ("diabetic_emergency", "je fais une hypo sévère"),
    # meningitis signs
    ("meningitis_signs", "high fever and a stiff neck"),
    ("meningitis_signs", "my son has a high temperature and his neck is stiff"),
    ("meningitis_signs", "my child has a rash that doesn't fade under a glass"),
    ("meningitis_signs", "fièvre à 40 et nuque raide"),
    ("meningitis_signs", "39,5°C et nuque raide"),
    ("meningitis_signs", "des taches violettes qui ne s'effacent pas sous le verre"),
]


@pytest.mark.parametrize(("category", "text"), POSITIVES, ids=[f"{c}:{t}" for c, t in POSITIVES])
def test_an_emergency_is_flagged(category, text):
    flag = red_flag_check(text)

    assert flag is not None, text
    assert category in flag.categories


def test_the_tables_cover_every_category_in_both_languages():
    categories = {category for category, _ in POSITIVES}

    assert categories == set(CATEGORIES)
    assert len(POSITIVES) >= 60 and len(NEGATIVES) >= 40


# -- what does not fire -------------------------------------------------------------------------------------

NEGATIVES = [
    # negations
    "no chest pain since yesterday",
    "pas de douleur thoracique",
    "I don't have chest pain anymore",
    "no shortness of breath, no chest pain",
    "denies chest pain",
    "I'm not having chest pain",
    "je n'ai plus mal à la poitrine",
    "the chest pain is gone",
    "la douleur thoracique a disparu",
    "I'm not suicidal",
    "I would never kill myself",
    "je n'ai pas envie de mourir",
    "I don't want to die, I just want to get better",
    "I'm scared I'm going to die of this cancer",
    "no fever, just a stiff neck",
    "sugar 450, no vomiting",
    "pas de fièvre mais la nuque raide",
    # general and educational questions
    "what are the signs of a stroke?",
    "quels sont les signes d'un AVC ?",
    "what is anaphylaxis?",
    "c'est quoi un AVC ?",
    "can stress cause chest pain?",
    "what are the symptoms of diabetic ketoacidosis?",
    "quels sont les symptômes d'une hypoglycémie ?",
    "what should I do if someone has a seizure?",
    "que faire en cas de malaise ?",
    "comment reconnaître un AVC ?",
    "how to prevent a stroke?",
    "comment prévenir un AVC ?",
    "j'ai lu un article sur les signes d'infarctus",
    "I read that chest pain can be caused by anxiety",
    "what's the difference between a heart attack and cardiac arrest?",
    "my doctor told me to watch out for chest pain",
    # hypothetical
    "What should I do if I have chest pain?",
    "I'm worried about having a heart attack someday",
    # the past, or long-standing
    "my father had a stroke in 2015",
    "I had a heart attack 3 years ago",
    "j'ai fait un AVC il y a 5 ans",
    "j'ai eu une douleur thoracique l'année dernière",
    "I had chest pain two years ago, the tests were normal",
    "I've had chest pain for years, it's my costochondritis",
    "I used to self-harm as a teenager",
    "in 2018 I attempted suicide, I'm doing much better now",
    "I had a seizure disorder as a child",
    "I have epilepsy, my last seizure was in 2021",
    "I had chest pain last Tuesday, the ECG was normal",
    "my mother died of a stroke",
    "Mon père est décédé d'un infarctus",
    # benign mentions and idioms
    "heart",
    "my heart",
    "my heart rate was 72 this morning",
    "how is my heart health?",
    "chest day at the gym",
    "heartburn after pizza",
    "brûlures d'estomac",
    "j'ai mal au cœur après le repas",
    "I bled a little when shaving",
    "my nose bled a bit this morning",
    "j'ai saigné du nez ce matin mais c'est fini",
    "I have heavy bleeding during my period",
    "my blood pressure won't stop rising",
    "I can't breathe through my nose",
    "I get short of breath when I climb stairs",
    "I can't breathe lol this is hilarious",
    "I can't talk right now",
    "I cut myself shaving",
    "I want to die my hair red",
    "I want to end things with my boyfriend",
    "j'ai envie de mourir de rire",
    "ça va me tuer ce boulot",
    "this heat is killing me",
    "my back is killing me",
    "I'm having a stroke of luck",
    "I'm fit and healthy",
    "my computer is not responding",
    "il ne répond pas à mes messages",
    "he is responding well to treatment",
    "my lips are swollen from a cold sore",
    "my throat is swollen and sore",
    "I have a stiff neck from sleeping badly",
    "my arm is numb after sleeping on it",
    "I can't lift heavy things since my shoulder surgery",
    "I'm allergic to penicillin",
    "my EpiPen expires next month",
    "I have a headache since this morning",
    "Je saigne des gencives quand je me brosse les dents",
    "J'ai des saignements abondants pendant mes règles",
    "Is my oxygen saturation of 92% low?",
    "Mon tensiomètre affiche 150/95, c'est grave ?",
    "j'ai un rhume et mal à la gorge",
    # numbers that are not an emergency
    "ma glycémie est à 1,1 g/L ce matin",
    "glycémie 1,8 g/l après le repas",
    "my blood glucose was 250 after dinner",
    "is 180 mg/dL high after a meal?",
    "my HbA1c is 9%",
    "my ketones were 0.3 this morning",
    "I had a hypo last night, feeling fine now",
    "I took 2 pills of paracetamol",
    "I took 10 mg of amlodipine",
    "I took a box of antibiotics",
    "I took all my pills this morning",
    "I took 20 pills over two weeks",
    "j'ai pris mes médicaments ce matin",
    "My cholesterol is 2.3 g/L, is that high?",
    "I ran 10 km today",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_no_emergency_is_flagged(text):
    assert red_flag_check(text) is None


def test_empty_or_blank_messages_are_not_flagged():
    assert red_flag_check("") is None
    assert red_flag_check("   \n ") is None


# -- how a message is read ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "douleur thoracique",
        "DOULEUR THORACIQUE",
        "Douleur  Thoracique",
        "douleur\u00a0thoracique",
        "douleur\tthoracique",
        " Douleur thoracique ",
    ],
)
def test_casing_accents_and_spaces_do_not_matter(text):
    assert normalise(text) == normalise("douleur thoracique")
    assert red_flag_check(text).category == "chest_pain"


def test_accents_composed_decomposed_or_missing_read_the_same():
    composed, decomposed = "j'ai mal \u00e0 la poitrine", "j'ai mal a\u0300 la poitrine"

    assert normalise(composed) == normalise(decomposed) == normalise("J'AI MAL A LA POITRINE")
    assert red_flag_check(decomposed).category == "chest_pain"


def test_apostrophes_and_missing_apostrophes_read_the_same():
    assert normalise("J’ai mal à la poitrine") == normalise("jai mal a la poitrine") == "j ai mal a la poitrine"
    assert normalise("I can’t breathe") == normalise("I cant breathe") == normalise("I cannot breathe")


def test_a_negation_is_ended_by_punctuation_and_by_but():
    assert red_flag_check("no chest pain") is None
    assert red_flag_check("no. chest pain") is not None
    assert red_flag_check("no fever but chest pain") is not None
    assert red_flag_check("pas de fièvre mais une douleur thoracique") is not None


def test_a_negation_too_far_before_the_symptom_does_not_cancel_it():
    assert red_flag_check("I did not sleep well at all last night and this morning there is chest pain") is not None


def test_cant_is_part_of_the_symptom_not_a_negation():
    assert red_flag_check("I can't breathe").category == "breathing"
    assert red_flag_check("je ne peux plus respirer").category == "breathing"
    assert red_flag_check("I can breathe fine") is None


def test_a_hypothetical_about_now_is_an_emergency():
    assert red_flag_check("what do I do if I'm having chest pain?") is None
    assert red_flag_check("what do I do if I'm having chest pain right now?") is not None


def test_an_educational_question_with_a_personal_symptom_is_an_emergency():
    assert red_flag_check("What are the signs of a stroke, like face drooping?") is None
    assert red_flag_check("What are the signs of a stroke? My face is drooping.") is not None


def test_suicidal_thoughts_fire_however_long_they_have_lasted():
    assert red_flag_check("I've had chest pain for years") is None
    assert red_flag_check("I've wanted to kill myself for years").category == "suicide_self_harm"
    assert red_flag_check("j'ai des idées noires depuis des années").category == "suicide_self_harm"


def test_a_required_context_must_itself_not_be_negated():
    assert red_flag_check("my lips are swelling after eating peanuts") is not None
    assert red_flag_check("my lips are swelling, no allergy that I know of") is None
    assert red_flag_check("glycémie à 4 g/L et je vomis") is not None
    assert red_flag_check("glycémie à 4 g/L, je ne vomis pas") is None


def test_glucose_values_are_read_in_their_units():
    confused = " and I'm confused"
    assert red_flag_check("blood sugar 50 mg/dL" + confused) is not None
    assert red_flag_check("blood sugar 60 mg/dL" + confused) is None
    assert red_flag_check("blood sugar 2.8 mmol/L" + confused) is not None
    assert red_flag_check("blood sugar 3.5 mmol/L" + confused) is None
    assert red_flag_check("glycémie à 0,5 g/L et je suis confuse") is not None
    assert red_flag_check("glycémie à 0,7 g/L et je suis confuse") is None
    assert red_flag_check("blood sugar 2.5" + confused) is None  # no unit: mmol/L or g/L, not read


def test_several_emergencies_lead_with_the_most_urgent_and_keep_the_crisis():
    flag = red_flag_check("I took 20 pills because I want to die")

    assert flag.category == "overdose_poisoning"
    assert flag.categories == ("overdose_poisoning", "suicide_self_harm")
    assert flag.crisis


def test_the_flag_holds_no_words_of_the_message():
    flag = red_flag_check("Alex Martin here, I want to end my life")

    assert isinstance(flag, RedFlag) and flag.category == "suicide_self_harm"
    assert not re.search(r"Alex|Martin|end my life", repr(flag))


def test_the_check_is_fast():
    messages = [text for _, text in POSITIVES] + NEGATIVES
    long_message = " ".join(messages)[:4000]  # the chat's longest message
    started = time.perf_counter()
    for text in messages:
        red_flag_check(text)
    red_flag_check(long_message)
    red_flag_check("no chest pain " * 285)

    # About 0.2 ms a message here; the bound leaves room for a loaded machine.
    assert time.perf_counter() - started < 2.0


# -- numbers ----------------------------------------------------------------------------------------------

EXPECTED_NUMBERS = {
    "FR": ["15", "112", "3114", "114"],
    "US": ["911", "988", "1-800-222-1222"],
    "GB": ["999", "111", "116 123"],
    "CA": ["911", "988", "1-844-764-7669"],
    "BE": ["112", "0800 32 123", "1813", "070 245 245"],
    "DE": ["112", "0800 111 0 111"],
    "ES": ["112", "024"],
    "IT": ["112", "118"],
    "CH": ["144", "143", "145"],
    "IE": ["112", "116 123"],
    "": ["112"],
    "JP": ["112"],
}
FIRST_EMERGENCY = {"FR": "15", "US": "911", "GB": "999", "CA": "911", "CH": "144", "": "112", "JP": "112"}
# Countries with a free crisis line answered round the clock; Italy has none (its listening line is listed).
CRISIS_LINE = {
    "FR": "3114",
    "US": "988",
    "GB": "116 123",
    "CA": "988",
    "BE": "0800 32 123",
    "DE": "0800 111 0 111",
    "ES": "024",
    "CH": "143",
    "IE": "116 123",
}


@pytest.mark.parametrize("country", EXPECTED_NUMBERS)
def test_each_country_has_its_numbers(country):
    numbers = [number for number, _label in emergency_numbers(country)]

    assert set(EXPECTED_NUMBERS[country]) <= set(numbers)
    assert numbers[0] == FIRST_EMERGENCY.get(country, numbers[0])


def test_country_codes_are_read_loosely_and_labels_follow_the_language():
    assert emergency_numbers("fr") == emergency_numbers("FR")
    assert emergency_numbers("UK") == emergency_numbers("GB")
    assert emergency_numbers("FR", language="fr")[0] == ("15", "SAMU, urgence médicale")
    assert emergency_numbers("FR", language="en")[0] == ("15", "SAMU, medical emergency")


# -- guidance ---------------------------------------------------------------------------------------------

FORBIDDEN = [
    r"\bdrink (?:some |plenty of |a glass of )?water\b",
    r"\brest\b",
    r"\bwait and see\b",
    r"\bprobably\b",
    r"\bmaybe\b",
    r"\bmight be\b",
    r"\bdon.t worry\b",
    r"\bno need\b",
    r"\bif (?:it|the pain|symptoms?) (?:persists?|gets? worse|continues?)\b",
    r"\bmonitor\b",
    r"\bibuprofen|paracetamol|aspirin|acetaminophen\b",
    r"\byou (?:are|re) having\b",
    r"\byou (?:have|had) (?:a|an)\b",
    r"\bbuvez de l.eau\b",
    r"\breposez\b",
    r"\brepos\b",
    r"\bsurveillez\b",
    r"\bprobablement\b",
    r"\bpeut-être\b",
    r"\bne vous inquiétez pas\b",
    r"\bpas de panique\b",
    r"\bsi (?:ça|cela|la douleur|les symptômes) (?:persiste|s.aggrave|continue)\b",
    r"\bparacétamol|ibuprofène|aspirine\b",
    r"\bvous faites (?:un|une)\b",
]
SAMPLE = {category: next(text for c, text in POSITIVES if c == category) for category in CATEGORIES}


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("country", ["FR", "US", "GB", "CA", "BE", "DE", "ES", "IT", "CH", ""])
@pytest.mark.parametrize("category", CATEGORIES)
def test_guidance_leads_with_the_call_and_lists_the_countrys_numbers(category, country, language):
    flag = red_flag_check(SAMPLE[category])
    assert flag.category == category
    numbers = dict(emergency_numbers(country))

    text = guidance(flag, country=country, language=language)

    first_line = text.splitlines()[0]
    assert first_line.startswith("**") and ("call" if language == "en" else "appelez") in first_line.lower()
    emergency = next(iter(numbers))
    if category == "suicide_self_harm" and country in CRISIS_LINE:
        assert CRISIS_LINE[country] in first_line
        assert emergency in text.split("\n\n")[1]  # the danger line right after
    else:
        assert emergency in first_line
    for number in EXPECTED_NUMBERS.get(country, ["112"])[:1]:
        assert f"**{number}**" in text
    for pattern in FORBIDDEN:
        assert not re.search(pattern, text, re.IGNORECASE), pattern
    assert "{" not in text and "}" not in text


@pytest.mark.parametrize("category", CATEGORIES)
def test_guidance_is_in_the_patients_language(category):
    flag = red_flag_check(SAMPLE[category])

    english = guidance(flag, country="FR", language="en")
    french = guidance(flag, country="FR", language="fr")

    assert english != french
    assert "This message was not sent to the assistant" in english
    assert "Ce message n'a pas été transmis à l'assistant" in french
    assert guidance(flag, country="FR", language="de") == english  # any other language: English


def test_suicidal_thoughts_get_the_crisis_line_first_and_the_emergency_number():
    flag = red_flag_check("je veux mourir")

    french = guidance(flag, country="FR", language="fr")
    american = guidance(flag, country="US", language="en")

    assert french.startswith("**Appelez le 3114 maintenant")
    assert "15 (SAMU) ou le 112" in french and "**114**" in french
    assert american.startswith("**Call 988 now") and "call 911 now" in american


def test_a_country_without_a_round_the_clock_crisis_line_leads_with_the_emergency_number():
    text = guidance(red_flag_check("I want to kill myself"), country="IT", language="en")

    assert text.startswith("**If you are in immediate danger or have already hurt yourself, call 112 or 118 now.**")
    assert "02 2327 2327" in text and "findahelpline.com" in text


def test_an_unknown_country_gets_112():
    text = guidance(red_flag_check("my chest hurts"), country="", language="en")

    assert text.startswith("**Call 112 (or your local emergency number) now.**")


def test_poisoning_lists_the_poison_centre_and_the_crisis_line():
    flag = red_flag_check("I took 20 pills")

    american = guidance(flag, country="US", language="en")
    french = guidance(flag, country="FR", language="fr")
    belgian = guidance(flag, country="BE", language="fr")

    assert "**1-800-222-1222**" in american and "**988**" in american
    assert "centre antipoison" in french and "**3114**" in french
    assert "**070 245 245**" in belgian


def test_an_overdose_with_suicidal_words_adds_the_crisis_line_to_the_lead():
    text = guidance(red_flag_check("j'ai avalé toute la boîte, je veux mourir"), country="FR", language="fr")

    assert text.startswith("**Appelez le 15 (SAMU) ou le 112 maintenant.**")
    assert "appelez le 3114" in text.split("\n\n")[1]


def test_medical_emergencies_do_not_list_the_crisis_line():
    text = guidance(red_flag_check("my chest hurts"), country="US", language="en")

    assert "988" not in text and "**911**" in text
