from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The health-space chat, its providers, tools and safety layer."""

    name = "chat"
    verbose_name = "Chat"

    def ready(self):
        from . import privacy

        privacy.register()  # its categories of personal data, for the privacy centre
