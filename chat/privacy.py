"""The chat's categories for the privacy centre (accounts/privacy.py): registered by ChatConfig.ready()."""

from django.utils.translation import gettext_lazy as _

from accounts.privacy import Category, category_register


def register() -> None:
    category_register(
        Category(
            key="conversations",
            label=_("Conversations with the assistant"),
            description=_(
                "Your questions, the answers, their citations, and exactly what was sent to an outside assistant."
            ),
            models=("chat.Conversation", "chat.Message"),
            uses=("storage", "assistant"),
            order=60,
        )
    )
    category_register(
        Category(
            key="memory",
            label=_("The assistant's memory"),
            description=_("Facts you asked the assistant to remember."),
            models=("chat.MemoryFact",),
            uses=("storage", "assistant"),
            order=61,
        )
    )
