"""Reads for SMART on FHIR: the servers a patient may connect to."""

import uuid

from django.http import Http404

from accounts.models import User
from integrations.models import FhirServer


def _country_of(user: User) -> str:
    profile = getattr(user, "profile", None)
    return str(profile.country).upper() if profile is not None and profile.country else ""


def _serves(server: FhirServer, country: str) -> bool:
    codes = {code.strip().upper() for code in server.countries.split(",") if code.strip()}
    return not codes or country in codes


def fhir_servers_for_user(*, user: User) -> list[FhirServer]:
    """Enabled servers available in the patient's country (a server without countries serves all), by name."""
    country = _country_of(user)
    return [server for server in FhirServer.objects.filter(enabled=True).order_by("name") if _serves(server, country)]


def fhir_server_get_for_user(*, user: User, public_id) -> FhirServer:
    """One server the patient may choose, or 404 (disabled, another country, or unknown)."""
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404("No such server") from None
    server = FhirServer.objects.filter(public_id=public_id, enabled=True).first()
    if server is None or not _serves(server, _country_of(user)):
        raise Http404("No such server")
    return server
