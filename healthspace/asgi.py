"""ASGI entry point: gunicorn with uvicorn workers serves this (streamed chat replies)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthspace.settings")

application = get_asgi_application()
