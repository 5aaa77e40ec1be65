"""What the records' Chromium tests share: a signed-in browser and a watch on CSP violations."""

from django.conf import settings
from django.test import Client
from playwright.sync_api import Page


def signed_in(context, live_server, user) -> None:
    """Give the browser context the session of `user`, as if they had signed in."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])


def csp_watch(page: Page) -> list[str]:
    """The Content Security Policy violations the page reports in its console, filled as it runs."""
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    return blocked
