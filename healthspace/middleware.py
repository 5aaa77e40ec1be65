"""Middleware shared by every app."""

from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """Pages seen by a signed-in person may show medical data: no browser or proxy may keep them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
            response["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0, private"
        return response
