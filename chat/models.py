"""The health space's conversations and memory: encrypted, owned by one patient, never leaving the space.

Only what is needed to list and order them is plain: owner, ids, dates, roles, and which engine
answered. Titles, messages, citations, what was sent to an outside provider, and memory are encrypted.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from healthspace.crypto import EncryptedCharField, EncryptedJSONField, EncryptedTextField


class Conversation(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    title = EncryptedCharField(_("title"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self):
        return f"conversation {self.public_id}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("you")
        ASSISTANT = "assistant", _("assistant")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = EncryptedTextField(blank=True)
    # [Citation.as_dict(), ...] behind an assistant answer.
    citations = EncryptedJSONField(default=list, blank=True)
    # Which engine answered: "offline", "openai", or "safety" (a red flag answered without any model).
    provider = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=100, blank=True)
    # What left the health space for an outside provider to write this answer (the exact requests).
    sent = EncryptedJSONField(default=list, blank=True)
    # Why this engine answered ("no_consent", "no_key", "restricted", "provider_error"), or a red flag's category.
    note = models.CharField(max_length=64, blank=True)
    # A fact the patient may ask the space to remember, proposed with this answer (encrypted).
    memory_proposal = EncryptedCharField(max_length=300, blank=True)
    # A symptom-journal entry read from the question ("headache 6/10 since 2pm"), offered, never applied
    # silently: {"what", "severity", "onset" (ISO), "duration_minutes"}; {} once added or if none.
    symptom_proposal = EncryptedJSONField(default=dict, blank=True)
    # A dose of a current medication read from the question ("I took my Lasix at 8am"), offered, never logged
    # silently: {"medication" (public_id), "name", "taken", "at" (ISO)}; {} once logged or if none.
    dose_proposal = EncryptedJSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self):
        return f"{self.role} message {self.public_id}"


class MemoryFact(models.Model):
    """A fact the patient confirmed ("I am training for a marathon"), used only inside the health space."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = EncryptedCharField(_("fact"), max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("memory")
        verbose_name_plural = _("memories")
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"memory {self.public_id}"
