"""Reads for the chat, always scoped to the owner (another patient's id is a 404)."""

from django.shortcuts import get_object_or_404

from .models import Conversation, MemoryFact, Message


def conversations_for_user(*, user):
    return Conversation.objects.filter(owner=user)


def conversation_get_for_user(*, user, public_id) -> Conversation:
    return get_object_or_404(Conversation, owner=user, public_id=public_id)


def messages_for_conversation(*, conversation: Conversation):
    return conversation.messages.all()


def message_get_for_user(*, user, public_id) -> Message:
    return get_object_or_404(Message.objects.select_related("conversation"), owner=user, public_id=public_id)


def memory_for_user(*, user):
    return MemoryFact.objects.filter(owner=user)


def memory_get_for_user(*, user, public_id) -> MemoryFact:
    return get_object_or_404(MemoryFact, owner=user, public_id=public_id)
