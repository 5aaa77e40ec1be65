"""The chat pages (consent-gated by namespace): conversations, streamed replies, memory.

Replies stream as server-sent events from a POST (`stream` views): under ASGI through an async iterator
that pulls the pipeline's events in a worker thread, under WSGI (runserver) through a plain iterator.
Without JavaScript the same form posts to the `send` views, which answer when the reply is complete.
"""

from __future__ import annotations

import datetime
import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import ConsentPurpose
from accounts.selectors import consent_is_granted

from . import selectors, services
from .engine import TextDelta, Turn
from .markdown import render as markdown_render
from .models import Message
from .services import ChatInputError, Reply


def _language() -> str:
    return (translation.get_language() or "en")[:2]


def _engine_status(user) -> dict:
    """What the page says about who answers, and why."""
    note = services.engine_note(user)
    return {"outside": not note, "note": note, "model": settings.OPENAI_MODEL if not note else ""}


def _message_view(message: Message) -> dict:
    anchor = f"cite-{message.public_id.hex[:8]}"
    proposal = message.symptom_proposal or {}
    dose = message.dose_proposal or {}
    return {
        "symptom_onset": datetime.datetime.fromisoformat(proposal["onset"]) if proposal.get("onset") else None,
        "dose_at": datetime.datetime.fromisoformat(dose["at"]) if dose.get("at") else None,
        "message": message,
        "html": markdown_render(message.content, anchor_prefix=anchor)
        if message.role == Message.Role.ASSISTANT
        else "",
        "anchor": anchor,
        "citations": message.citations or [],
    }


@login_required
def index(request):
    if request.method == "POST":
        conversation = services.conversation_create(owner=request.user)
        return redirect("chat:conversation", public_id=conversation.public_id)
    context = {
        "conversations": selectors.conversations_for_user(user=request.user)[:100],
        "engine": _engine_status(request.user),
        "memory_count": selectors.memory_for_user(user=request.user).count(),
    }
    return render(request, "chat/index.html", context)


@login_required
def conversation(request, public_id):
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    context = {
        "conversation": conversation,
        "items": [_message_view(m) for m in selectors.messages_for_conversation(conversation=conversation)],
        "engine": _engine_status(request.user),
        "send_url": reverse("chat:send", args=[conversation.public_id]),
        "stream_url": reverse("chat:stream", args=[conversation.public_id]),
    }
    return render(request, "chat/conversation.html", context)


@login_required
@require_POST
def send(request, public_id):
    """The form without JavaScript: answer completely, then show the conversation."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    try:
        for _event in services.message_reply(
            owner=request.user, text=request.POST.get("text", ""), language=_language(), conversation=conversation
        ):
            pass
    except ChatInputError as exc:
        messages.error(request, str(exc))
    return redirect(reverse("chat:conversation", args=[conversation.public_id]) + "#latest")


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _stream_events(request, *, text: str, conversation=None, history=None):
    """The pipeline's events as SSE chunks, ending with a `done` event that carries the safe HTML."""
    reply = Reply()
    language = _language()
    try:
        events = services.message_reply(
            owner=request.user, text=text, language=language, conversation=conversation, history=history, reply=reply
        )
        for event in events:
            if isinstance(event, TextDelta):
                yield _sse("delta", {"text": event.text})
    except ChatInputError as exc:
        yield _sse("failed", {"message": str(exc)})
        return
    if reply.message is None:
        done = {"html": markdown_render(reply.text, anchor_prefix="cite-live"), "provider": reply.provider}
    else:
        done = {"html": _message_view(reply.message)["html"], "provider": reply.provider}
        # A new query string, so the browser loads the page again with the stored answer and its citations.
        done["url"] = (
            f"{reverse('chat:conversation', args=[conversation.public_id])}?after={reply.message.public_id}#latest"
        )
    done["citations"] = [citation.as_dict() for citation in reply.citations]
    yield _sse("done", done)


def _streaming_response(request, chunks) -> StreamingHttpResponse:
    if isinstance(request, ASGIRequest):
        # ASGI needs an async iterator; the pipeline (ORM, SDK) is synchronous: one step per thread hop.
        sync_iterator = iter(chunks)
        step = sync_to_async(lambda: next(sync_iterator, None), thread_sensitive=True)

        async def pull():
            while (chunk := await step()) is not None:
                yield chunk

        body = pull()
    else:
        body = chunks
    response = StreamingHttpResponse(body, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@login_required
@require_POST
def stream(request, public_id):
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    chunks = _stream_events(request, text=request.POST.get("text", ""), conversation=conversation)
    return _streaming_response(request, chunks)


def _history_from(request) -> list:
    try:
        raw = json.loads(request.POST.get("history") or "[]")
    except ValueError:
        raw = []
    return services.temporary_history(raw)


@login_required
def temporary(request):
    """A chat that is never stored: earlier turns come back from the browser with each message."""
    history = _history_from(request) if request.method == "POST" else []
    answer = None
    if request.method == "POST":
        reply = Reply()
        text = request.POST.get("text", "")
        try:
            for _event in services.message_reply(
                owner=request.user, text=text, language=_language(), history=history, reply=reply
            ):
                pass
        except ChatInputError as exc:
            messages.error(request, str(exc))
        else:
            history = [*history, Turn(role="user", content=text.strip())]
            history.append(Turn(role="assistant", content=reply.text))
            answer = reply
    items = [
        {
            "role": turn.role,
            "html": markdown_render(turn.content) if turn.role == "assistant" else "",
            "content": turn.content,
        }
        for turn in history
    ]
    context = {
        "items": items,
        "history_json": json.dumps([{"role": t.role, "content": t.content} for t in history], ensure_ascii=False),
        "answer": answer,
        "engine": _engine_status(request.user),
        "send_url": reverse("chat:temporary"),
        "stream_url": reverse("chat:temporary_stream"),
    }
    return render(request, "chat/temporary.html", context)


@login_required
@require_POST
def temporary_stream(request):
    chunks = _stream_events(request, text=request.POST.get("text", ""), history=_history_from(request))
    return _streaming_response(request, chunks)


@login_required
def conversation_rename(request, public_id):
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    if request.method == "POST":
        try:
            services.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
        except ChatInputError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("chat:conversation", public_id=conversation.public_id)
    return render(request, "chat/rename.html", {"conversation": conversation})


@login_required
def conversation_delete(request, public_id):
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    if request.method == "POST":
        services.conversation_delete(conversation=conversation)
        messages.success(request, _("The conversation was deleted."))
        return redirect("chat:index")
    return render(request, "chat/delete.html", {"conversation": conversation})


@login_required
def message_sent(request, public_id):
    """ "What the assistant saw": what left the health space to write this answer."""
    message = selectors.message_get_for_user(user=request.user, public_id=public_id)
    if message.role != Message.Role.ASSISTANT:
        raise Http404
    sent = json.dumps(message.sent, ensure_ascii=False, indent=2) if message.sent else ""
    return render(request, "chat/message_sent.html", {"message": message, "sent": sent})


@login_required
@require_POST
def symptom_add(request, public_id):
    """The patient confirms the symptom-journal entry an answer proposed."""
    message = selectors.message_get_for_user(user=request.user, public_id=public_id)
    try:
        services.symptom_from_message(owner=request.user, message=message)
    except ChatInputError as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, _("Added to your symptom journal."))
    return redirect(reverse("chat:conversation", args=[message.conversation.public_id]) + "#latest")


@login_required
@require_POST
def dose_add(request, public_id):
    """The patient confirms the dose an answer proposed to log."""
    message = selectors.message_get_for_user(user=request.user, public_id=public_id)
    try:
        services.dose_from_message(owner=request.user, message=message)
    except ChatInputError as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, _("Added to your medication log."))
    return redirect(reverse("chat:conversation", args=[message.conversation.public_id]) + "#latest")


@login_required
def memory(request):
    if request.method == "POST":
        try:
            services.memory_add(owner=request.user, text=request.POST.get("text", ""))
        except ChatInputError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Saved to your memory."))
        return redirect(
            request.POST.get("next") if request.POST.get("next", "").startswith("/chat/") else "chat:memory"
        )
    context = {
        "facts": selectors.memory_for_user(user=request.user),
        "ai_consent": consent_is_granted(user=request.user, purpose=ConsentPurpose.AI_ASSISTANT),
    }
    return render(request, "chat/memory.html", context)


@login_required
def memory_edit(request, public_id):
    fact = selectors.memory_get_for_user(user=request.user, public_id=public_id)
    if request.method == "POST":
        try:
            services.memory_update(fact=fact, text=request.POST.get("text", ""))
        except ChatInputError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("chat:memory")
    return render(request, "chat/memory_edit.html", {"fact": fact})


@login_required
@require_POST
def memory_delete(request, public_id):
    fact = selectors.memory_get_for_user(user=request.user, public_id=public_id)
    services.memory_delete(fact=fact)
    messages.success(request, _("Removed from your memory."))
    return redirect("chat:memory")
