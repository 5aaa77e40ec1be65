"""Writes for the chat: conversations, memory, and the reply pipeline.

The pipeline (`message_reply`), for every message:
1. the red-flag check (`chat.safety`): an emergency gets fixed guidance with the country's numbers at
   once, and no model is asked;
2. the engine: the outside model only with a configured key and the patient's `ai_assistant` consent,
   else the offline engine (and the page says why);
3. every tool call and every outside provider call is an audit event (codes and ids only);
4. the answer is stored with its citations and the exact messages sent to the provider. A temporary
   chat goes through the same steps and stores nothing.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import AuditEvent, ConsentPurpose
from accounts.selectors import consent_is_granted, processing_allowed
from accounts.services import audit_record
from records.routine import dose_log_create, dose_proposal_for_user, medication_current_get_for_user
from records.symptoms import symptom_create, symptom_parse_any

from .engine import Citation, Finished, TextDelta, ToolUsed, Turn
from .llm import ChatProviderError, OpenAIEngine
from .models import Conversation, MemoryFact, Message
from .offline import OfflineEngine
from .safety import guidance, red_flag_check

MESSAGE_MAX_CHARS = 4000
TITLE_CHARS = 60
MEMORY_MAX_CHARS = 300
# A temporary chat's history comes back from the browser: bounded.
TEMPORARY_MAX_TURNS = 40


class ChatInputError(ValueError):
    """A message or memory the patient must change (plain words)."""


def _clean_text(text: str, *, limit: int) -> str:
    text = (text or "").replace("\x00", "").strip()
    if not text:
        raise ChatInputError(_("Write a message first."))
    if len(text) > limit:
        raise ChatInputError(_("This message is too long: keep it under %(limit)d characters.") % {"limit": limit})
    return text


# -- conversations and memory --------------------------------------------------------------------------


def conversation_create(*, owner) -> Conversation:
    return Conversation.objects.create(owner=owner)


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = _clean_text(title, limit=200)
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def memory_add(*, owner, text: str) -> MemoryFact:
    return MemoryFact.objects.create(owner=owner, text=_clean_text(text, limit=MEMORY_MAX_CHARS))


def memory_update(*, fact: MemoryFact, text: str) -> MemoryFact:
    fact.text = _clean_text(text, limit=MEMORY_MAX_CHARS)
    fact.save(update_fields=["text", "updated_at"])
    return fact


def memory_delete(*, fact: MemoryFact) -> None:
    fact.delete()


_REMEMBER = re.compile(
    r"^\s*(?:please\s+)?(?:remember|note|keep in mind)\s+(?:that\s+)?(?P<en>.+)$"
    r"|^\s*(?:s'il te pla[iî]t,?\s+)?(?:souviens[- ]toi|rappelle[- ]toi|retiens|n'oublie pas|note)"
    r"\s+(?:que\s+|qu')?(?P<fr>.+)$",
    re.IGNORECASE | re.DOTALL,
)


def memory_proposal_from(text: str) -> str:
    """A fact the patient asked the space to remember ("remember that I am training for a marathon"), or ""."""
    match = _REMEMBER.match(text)
    if not match:
        return ""
    fact = (match.group("en") or match.group("fr") or "").strip().rstrip(".!")
    return fact[:MEMORY_MAX_CHARS] if len(fact) >= 3 else ""


def _languages(language: str) -> list[str]:
    """The patient's language first, then the other: patients mix them."""
    return [language, "fr" if language == "en" else "en"]


def symptom_proposal_from(text: str, language: str) -> dict:
    """A symptom-journal entry the message describes ("headache 6/10 since 2pm"), as JSON, or {}."""
    parsed = symptom_parse_any(text, _languages(language))
    if not parsed:
        return {}
    duration = parsed.get("duration")
    return {
        "what": parsed["what"],
        "severity": parsed.get("severity"),
        "onset": parsed["onset"].isoformat(),
        "duration_minutes": round(duration.total_seconds() / 60) if duration else None,
    }


@transaction.atomic
def symptom_from_message(*, owner, message: Message):
    """Add the entry a message proposed to the symptom journal, once (the patient confirmed it)."""
    message = Message.objects.select_for_update().get(pk=message.pk, owner=owner)
    proposal = message.symptom_proposal
    if not proposal:
        raise ChatInputError(_("This entry is already in your symptom journal."))
    minutes = proposal.get("duration_minutes")
    symptom = symptom_create(
        owner=owner,
        what=proposal["what"],
        severity=proposal.get("severity"),
        onset=datetime.datetime.fromisoformat(proposal["onset"]),
        duration=datetime.timedelta(minutes=minutes) if minutes else None,
    )
    message.symptom_proposal = {}
    message.save(update_fields=["symptom_proposal"])
    return symptom


def dose_proposal_from(text: str, language: str, *, owner) -> dict:
    """A dose of one of the owner's current medications the message describes ("I took my Lasix"), or {}."""
    return dose_proposal_for_user(user=owner, text=text, languages=_languages(language))


@transaction.atomic
def dose_from_message(*, owner, message: Message):
    """Log the dose a message proposed, once (the patient confirmed it); the medication must still be current."""
    message = Message.objects.select_for_update().get(pk=message.pk, owner=owner)
    proposal = message.dose_proposal
    if not proposal:
        raise ChatInputError(_("This dose is already in your medication log."))
    try:
        medication = medication_current_get_for_user(user=owner, public_id=proposal["medication"])
    except Http404:
        raise ChatInputError(_("This medication is no longer among your current medications.")) from None
    log = dose_log_create(
        user=owner,
        medication=medication,
        taken=bool(proposal["taken"]),
        at=datetime.datetime.fromisoformat(proposal["at"]),
    )
    message.dose_proposal = {}
    message.save(update_fields=["dose_proposal"])
    return log


# -- the reply pipeline ----------------------------------------------------------------------------------


@dataclass
class Reply:
    """What the pipeline gathered while streaming (filled in as the events pass)."""

    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    sent: list = field(default_factory=list)
    note: str = ""
    memory_proposal: str = ""
    symptom_proposal: dict = field(default_factory=dict)
    dose_proposal: dict = field(default_factory=dict)
    message: Message | None = None


PROVIDER_ERROR_TEXT = {
    "timeout": gettext_lazy("The outside assistant took too long to answer."),
    "unreachable": gettext_lazy("The outside assistant cannot be reached right now."),
    "busy": gettext_lazy("The outside assistant is busy right now."),
    "misconfigured": gettext_lazy("The outside assistant is not set up correctly on this server."),
    "refused": gettext_lazy("The outside assistant could not handle this question."),
    "failed": gettext_lazy("The outside assistant had a problem answering."),
}


def provider_error_text(code: str) -> str:
    return str(PROVIDER_ERROR_TEXT.get(code, PROVIDER_ERROR_TEXT["failed"]))


def engine_note(owner) -> str:
    """Why the offline engine answers the patient ("no_key", "no_consent", "restricted"); "" for the outside model."""
    if not settings.OPENAI_API_KEY:
        return "no_key"
    if not consent_is_granted(user=owner, purpose=ConsentPurpose.AI_ASSISTANT):
        return "no_consent"
    if not processing_allowed(user=owner):
        return "restricted"  # GDPR Art. 18: nothing leaves for an outside provider
    return ""


def engine_for(owner):
    """(engine, note): the outside model when allowed, else the offline engine and why."""
    note = engine_note(owner)
    return (OfflineEngine() if note else OpenAIEngine()), note


def _memory(owner) -> list[str]:
    return [fact.text for fact in MemoryFact.objects.filter(owner=owner)]


def _history(conversation: Conversation) -> list[Turn]:
    return [
        Turn(role=message.role, content=message.content)
        for message in conversation.messages.all()
        if message.content and message.provider != "safety"
    ]


def temporary_history(raw: list) -> list[Turn]:
    """A temporary chat's earlier turns as the browser sends them back (never stored): checked and bounded."""
    turns = []
    for item in raw[-TEMPORARY_MAX_TURNS:] if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        role, content = item.get("role"), item.get("content")
        if role in ("user", "assistant") and isinstance(content, str) and content.strip():
            turns.append(Turn(role=role, content=content[:MESSAGE_MAX_CHARS]))
    return turns


def _audit_tool(owner, *, provider: str, model: str, name: str, message_id: str) -> None:
    outside = provider not in ("offline", "safety")
    audit_record(
        actor_kind=AuditEvent.ActorKind.AI_PROVIDER if outside else AuditEvent.ActorKind.SYSTEM,
        actor_label=f"{provider}:{model}" if outside else "offline assistant",
        action="chat.tool",
        subject=owner,
        object_type="chat.message",
        object_id=message_id,
        reason=name,
    )


def _audit_provider_call(owner, *, provider: str, model: str, message_id: str, outcome: str) -> None:
    audit_record(
        actor_kind=AuditEvent.ActorKind.AI_PROVIDER,
        actor_label=f"{provider}:{model}",
        action="chat.provider_call",
        subject=owner,
        object_type="chat.message",
        object_id=message_id,
        outcome=outcome,
    )


def _country(owner) -> str:
    profile = getattr(owner, "profile", None)
    return str(profile.country) if profile is not None and profile.country else ""


def message_reply(
    *,
    owner,
    text: str,
    language: str,
    conversation: Conversation | None = None,
    history: list[Turn] | None = None,
    reply: Reply | None = None,
) -> Iterator:
    """Answer one message: yields the engine's events (TextDelta, ToolUsed, Finished) as they come.

    With a conversation, the question and the answer are stored; without (a temporary chat), `history`
    gives the earlier turns and nothing is stored. `reply`, if given, is filled in as the events pass.
    Raises ChatInputError before anything happens if the message is empty or too long.
    """
    text = _clean_text(text, limit=MESSAGE_MAX_CHARS)
    reply = reply if reply is not None else Reply()
    language = language if language in ("en", "fr") else "en"
    if conversation is not None:
        turns = _history(conversation)
        Message.objects.create(owner=owner, conversation=conversation, role=Message.Role.USER, content=text)
        if not conversation.title:
            conversation.title = text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"
        conversation.save(update_fields=["title", "updated_at"])
    else:
        turns = list(history or [])
    turns.append(Turn(role="user", content=text))
    # The assistant message's id exists before the answer, so audit events can point at it.
    message = Message(owner=owner, conversation=conversation, role=Message.Role.ASSISTANT)
    message_id = str(message.public_id)
    reply.memory_proposal = memory_proposal_from(text)
    reply.dose_proposal = dose_proposal_from(text, language, owner=owner)
    # "I skipped my Lasix since yesterday" is a dose to log, not a symptom.
    reply.symptom_proposal = {} if reply.dose_proposal else symptom_proposal_from(text, language)

    flag = red_flag_check(text)
    if flag is not None:
        reply.text = guidance(flag, country=_country(owner), language=language)
        reply.provider, reply.note = "safety", flag.category
        yield TextDelta(reply.text)
        yield Finished(provider="safety", note=flag.category)
    else:
        engine, reply.note = engine_for(owner)
        with translation.override(language):
            yield from _run_engine(
                engine, owner=owner, turns=turns, language=language, reply=reply, message_id=message_id
            )

    if conversation is not None:
        message.content = reply.text
        message.citations = [citation.as_dict() for citation in reply.citations]
        message.provider, message.model = reply.provider, reply.model
        message.sent, message.note = reply.sent, reply.note
        message.memory_proposal = reply.memory_proposal
        message.symptom_proposal = reply.symptom_proposal
        message.dose_proposal = reply.dose_proposal
        with transaction.atomic():
            message.save()
            conversation.save(update_fields=["updated_at"])
        reply.message = message


def _run_engine(engine, *, owner, turns, language, reply: Reply, message_id: str) -> Iterator:
    outside = engine.provider != "offline"
    model = getattr(engine, "model", "")
    memory = _memory(owner)
    try:
        for event in engine.reply(owner=owner, turns=turns, language=language, memory=memory):
            if isinstance(event, TextDelta):
                reply.text += event.text
            elif isinstance(event, ToolUsed):
                reply.citations.extend(event.result.citations)
                _audit_tool(owner, provider=engine.provider, model=model, name=event.name, message_id=message_id)
            elif isinstance(event, Finished):
                reply.provider, reply.model, reply.sent = event.provider, event.model, event.sent
                reply.note = reply.note or event.note
            yield event
        if outside:
            _audit_provider_call(
                owner, provider=engine.provider, model=model, message_id=message_id, outcome=AuditEvent.Outcome.SUCCESS
            )
    except ChatProviderError as exc:
        _audit_provider_call(
            owner, provider=engine.provider, model=model, message_id=message_id, outcome=AuditEvent.Outcome.FAILED
        )
        explanation = provider_error_text(exc.code)
        if reply.text:
            # Part of the answer was shown: say where it stopped, do not start again.
            tail = f"\n\n*{explanation} {_('The answer above is incomplete.')}*"
            reply.text += tail
            reply.provider, reply.model, reply.note = engine.provider, model, "provider_error"
            yield TextDelta(tail)
            yield Finished(provider=engine.provider, model=model, note="provider_error")
            return
        # Nothing shown yet: the offline engine answers from the same data, and says why.
        preface = f"*{explanation} {_('This answer comes from the offline assistant.')}*\n\n"
        reply.text, reply.citations = preface, []
        yield TextDelta(preface)
        fallback = _run_engine(
            OfflineEngine(), owner=owner, turns=turns, language=language, reply=reply, message_id=message_id
        )
        yield from fallback
        reply.note = "provider_error"
