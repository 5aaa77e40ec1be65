from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The health-space chat, its providers, tools and safety layer."""

    name = "chat"
    verbose_name = "Chat"
