"""Share links: made once, read without an account, time-boxed, revocable, audited, rate limited, revealing nothing."""

import datetime
import re
import secrets

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from records import share_views, visits
from records.models import ClinicalNote, ShareLink, Source
from records.tests.visit_factories import prepared_visit

SECRET_WORDS = ("Alex Martin", "Metformin", "Penicillin", "Glucose", "Dr Lefebvre")


@pytest.fixture
def visit(patient):
    return prepared_visit(patient)


def _share(client, visit, **form) -> tuple[str, str]:
    """Make a link through the page, as the patient does; the URL and code as shown to them."""
    data = {"days": "7", "language": "en", **form}
    response = client.post(reverse("records:visit_share", args=[visit.public_id]), data)
    assert response.status_code == 200
    page = response.content.decode()
    url = re.search(r'id="share-url" value="([^"]+)"', page).group(1)
    code = re.search(r'id="share-code" value="([^"]+)"', page)
    return url.removeprefix("http://testserver"), code.group(1) if code else ""


def _clinician(address: str = "198.51.100.7") -> Client:
    return Client(REMOTE_ADDR=address)


def _assert_private(response):
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    assert "noindex" in response["X-Robots-Tag"]


def test_the_token_and_code_are_shown_once_and_stored_only_as_keyed_hashes(patient_client, visit):
    url, code = _share(patient_client, visit, with_code="on")
    token = url.split("/")[2]
    assert len(token) >= 43 and re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    link = ShareLink.objects.get(visit=visit)
    assert link.token_key not in (token, "") and link.code_key not in (code, "")
    assert link.expires_at - timezone.now() > datetime.timedelta(days=6, hours=23)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM records_sharelink")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert token not in row and code not in row and "Metformin" not in row
    # The visit page lists the link by its short id, never the token again.
    page = patient_client.get(reverse("records:visit_detail", args=[visit.public_id])).content.decode()
    assert link.short_id in page and token not in page
    assert AuditEvent.objects.filter(subject=visit.owner, action="share_link.created").count() == 1


def test_a_clinician_reads_the_summary_without_an_account_and_the_view_is_audited(patient_client, patient, visit):
    url, _code = _share(patient_client, visit)
    response = _clinician().get(url)
    page = response.content.decode()
    assert response.status_code == 200
    _assert_private(response)
    assert '<meta name="robots" content="noindex' in page
    assert "Alex Martin" in page and "Dr Lefebvre, GP" in page and "Ask your doctor" in page
    assert page.count("<form") == 1 and 'action="' + url + 'note/"' in page  # the note form, nothing else
    link = ShareLink.objects.get(visit=visit)
    assert link.view_count == 1 and link.last_viewed_at is not None
    event = AuditEvent.objects.get(subject=patient, action="share_link.viewed")
    assert event.actor_kind == AuditEvent.ActorKind.SHARE_LINK and event.actor is None
    assert event.actor_label == link.short_id and event.object_id == str(link.public_id)
    log = patient_client.get(reverse("accounts:access_log")).content.decode()
    assert "Visit summary viewed through a share link" in log
    assert f"Someone with a share link ({link.short_id})" in log


def test_the_link_shows_the_summary_as_it_was_when_shared(patient_client, visit):
    url, _code = _share(patient_client, visit)
    packet = visit.packet
    packet["sections"]["allergies"][0]["text"] = "Changed after sharing"
    visit.packet = packet
    visit.save()
    page = _clinician().get(url).content.decode()
    assert "Penicillin — hives" in page and "Changed after sharing" not in page


def test_a_link_in_french_and_a_switch_to_english(patient_client, visit):
    url, _code = _share(patient_client, visit, language="fr")
    clinician = _clinician()
    french = clinician.get(url)
    assert '<html lang="fr">' in french.content.decode() and "au-dessus de la référence" in french.content.decode()
    english = clinician.get(url, {"lang": "en"}).content.decode()
    assert '<html lang="en">' in english and "above range" in english


def test_the_access_code_gates_the_summary_and_a_wrong_code_reveals_nothing(patient_client, patient, visit):
    url, code = _share(patient_client, visit, with_code="on")
    clinician = _clinician()
    form = clinician.get(url)
    assert form.status_code == 200
    _assert_private(form)
    wrong = clinician.post(url, {"code": "AAAA-AAAA"})
    for response in (form, wrong):
        page = response.content.decode()
        assert not any(word in page for word in SECRET_WORDS), page
        assert "Access code" in page
    assert "This code does not open the summary." in wrong.content.decode()
    assert ShareLink.objects.get(visit=visit).view_count == 0
    refused = AuditEvent.objects.get(subject=patient, action="share_link.code_refused")
    assert refused.outcome == AuditEvent.Outcome.DENIED
    # The code works in lower case and without its dash; the session then stays open.
    opened = clinician.post(url, {"code": code.lower().replace("-", "")})
    assert opened.status_code == 302 and opened.url == url
    assert "Penicillin" in clinician.get(url).content.decode()
    assert "Penicillin" not in _clinician().get(url).content.decode()  # another browser needs the code


def _refusals(patient_client, visit) -> dict[str, str]:
    """An unknown, an expired and a revoked link: the URLs a clinician might try."""
    expired_url, _ = _share(patient_client, visit)
    ShareLink.objects.filter(visit=visit).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    revoked_url, _ = _share(patient_client, visit)
    link = ShareLink.objects.get(visit=visit, revoked_at__isnull=True, expires_at__gt=timezone.now())
    patient_client.post(reverse("records:share_link_revoke", args=[link.public_id]))
    return {
        "unknown": reverse("shared:view", args=[secrets.token_urlsafe(32)]),
        "expired": expired_url,
        "revoked": revoked_url,
    }


def test_unknown_expired_and_revoked_links_are_the_same_plain_404(patient_client, visit):
    urls = _refusals(patient_client, visit)
    for suffix, method in (("", "get"), ("note/", "post"), ("summary.json", "get")):
        bodies = set()
        for kind, url in urls.items():
            response = getattr(_clinician(), method)(
                url + suffix, {"name": "x", "role": "y", "text": "z"} if method == "post" else None
            )
            assert response.status_code == 404, (kind, suffix)
            _assert_private(response)
            assert "Set-Cookie" not in response.headers or "sessionid" not in response.headers["Set-Cookie"]
            bodies.add(response.content)
        assert len(bodies) == 1, f"{suffix}: the refusals differ"
    assert not any(word.encode() in next(iter(bodies)) for word in SECRET_WORDS)
    assert ShareLink.objects.filter(visit=visit, view_count__gt=0).count() == 0


def test_revoking_closes_the_link_at_once_and_is_audited(patient_client, patient, visit):
    url, _code = _share(patient_client, visit)
    clinician = _clinician()
    assert clinician.get(url).status_code == 200
    link = ShareLink.objects.get(visit=visit)
    patient_client.post(reverse("records:share_link_revoke", args=[link.public_id]))
    assert clinician.get(url).status_code == 404
    assert AuditEvent.objects.filter(subject=patient, action="share_link.revoked").count() == 1
    page = patient_client.get(reverse("records:visit_detail", args=[visit.public_id])).content.decode()
    assert "Closed" in page


def test_guessing_tokens_is_rate_limited_per_address(patient_client, visit):
    url, _code = _share(patient_client, visit)
    guesser = _clinician("203.0.113.9")
    lookups = int(share_views.RATE_LIMITS["share_link_lookup"].split("/")[0])
    for _ in range(lookups):
        assert guesser.get(reverse("shared:view", args=[secrets.token_urlsafe(32)])).status_code == 404
    blocked = guesser.get(reverse("shared:view", args=[secrets.token_urlsafe(32)]))
    assert blocked.status_code == 429
    # Blocked, the guesser learns nothing more, not even from a real link; others are not blocked.
    assert guesser.get(url).status_code == 429
    assert _clinician("203.0.113.10").get(url).status_code == 200


def test_guessing_the_code_is_rate_limited_per_link(patient_client, visit):
    url, code = _share(patient_client, visit, with_code="on")
    attempts = int(share_views.RATE_LIMITS["share_link_code"].split("/")[0])
    for index in range(attempts):
        assert _clinician(f"192.0.2.{index + 1}").post(url, {"code": "AAAA-AAAA"}).status_code == 200
    # From yet another address, even the right code is refused now: the limit is the link's.
    blocked = _clinician("192.0.2.200").post(url, {"code": code})
    assert blocked.status_code == 429
    assert "Too many wrong codes" in blocked.content.decode() and "Penicillin" not in blocked.content.decode()


def test_a_clinician_leaves_a_note_that_lands_in_the_records_as_unverified(patient_client, patient, visit):
    url, _code = _share(patient_client, visit)
    clinician = _clinician()
    clinician.get(url)
    note_url = url + "note/"
    data = {"name": "Dr Anne Roux", "role": "Endocrinologist", "text": "Please repeat the fasting glucose."}
    response = clinician.post(note_url, data)
    assert response.status_code == 200 and "your note was sent" in response.content.decode()
    _assert_private(response)
    clinician.post(note_url, data)  # sent twice: kept once
    (note,) = ClinicalNote.objects.filter(owner=patient)
    assert note.unverified_author and note.source == Source.SHARE_LINK and not note.is_manual
    assert note.author == "Dr Anne Roux (Endocrinologist)" and note.text == data["text"]
    assert note.title == "Note from Dr Anne Roux"
    link = ShareLink.objects.get(visit=visit)
    assert link.note_count == 1
    assert AuditEvent.objects.filter(subject=patient, action="share_link.note_added").count() == 1
    listing = patient_client.get(reverse("records:list", args=["notes"])).content.decode()
    assert "Note from Dr Anne Roux" in listing and "From an unverified outside author" in listing
    detail = patient_client.get(reverse("records:detail", args=["notes", note.public_id])).content.decode()
    assert "From an unverified outside author" in detail and "Please repeat the fasting glucose." in detail
    timeline = patient_client.get(reverse("records:timeline")).content.decode()
    assert "From an unverified outside author" in timeline
    # What the clinician wrote stays as written: the patient can annotate or dispute it, not rewrite it.
    edit = patient_client.get(reverse("records:edit", args=["notes", note.public_id]))
    assert set(edit.context["form"].fields) == {"patient_note", "disputed"}


def test_a_note_needs_the_code_and_a_complete_form(patient_client, patient, visit):
    url, _code = _share(patient_client, visit, with_code="on")
    data = {"name": "Dr Roux", "role": "GP", "text": "Hello"}
    response = _clinician().post(url + "note/", data)
    assert response.status_code == 302 and response.url == url
    assert not ClinicalNote.objects.filter(owner=patient).exists()
    url, _code = _share(patient_client, visit)
    incomplete = _clinician().post(url + "note/", {"name": "Dr Roux", "role": "", "text": ""})
    assert incomplete.status_code == 200 and "This field is required." in incomplete.content.decode()
    assert not ClinicalNote.objects.filter(owner=patient).exists()


def test_the_clinician_downloads_the_fhir_summary_and_the_download_is_audited(patient_client, patient, visit):
    url, _code = _share(patient_client, visit)
    response = _clinician().get(url + "summary.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    _assert_private(response)
    assert response.json()["type"] == "document"
    assert AuditEvent.objects.filter(subject=patient, action="share_link.downloaded").count() == 1


def test_a_link_lasts_as_long_as_chosen_and_no_longer(patient_client, visit):
    _share(patient_client, visit, days="1")
    link = ShareLink.objects.get(visit=visit)
    assert datetime.timedelta(hours=23) < link.expires_at - timezone.now() <= datetime.timedelta(days=1)
    response = patient_client.post(
        reverse("records:visit_share", args=[visit.public_id]), {"days": "365", "language": "en"}
    )
    assert response.status_code == 302 and ShareLink.objects.filter(visit=visit).count() == 1


def test_another_patient_cannot_revoke_a_link(client, patient_client, other_patient, visit):
    _share(patient_client, visit)
    link = ShareLink.objects.get(visit=visit)
    client.force_login(other_patient)
    assert client.post(reverse("records:share_link_revoke", args=[link.public_id])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


def test_deleting_the_visit_closes_its_links(patient_client, visit):
    url, _code = _share(patient_client, visit)
    patient_client.post(reverse("records:visit_delete", args=[visit.public_id]))
    assert _clinician().get(url).status_code == 404


def test_the_share_service_refuses_an_unlisted_duration(patient, visit):
    with pytest.raises(visits.RecordError):
        visits.share_link_create(user=patient, visit=visit, days=90)


def test_the_clinicians_forms_keep_csrf_protection(patient_client, patient, visit):
    url, code = _share(patient_client, visit, with_code="on")
    clinician = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.8")
    clinician.get(url)
    token = clinician.cookies["csrftoken"].value
    # A form posted from another site (or with no token) is refused; the page's own form goes through.
    forged = Client(enforce_csrf_checks=True, HTTP_ORIGIN="https://evil.example", REMOTE_ADDR="198.51.100.9")
    assert forged.post(url, {"code": code}).status_code == 403
    assert (
        clinician.post(url, {"code": code, "csrfmiddlewaretoken": token}, HTTP_ORIGIN="http://testserver").status_code
        == 302
    )
    data = {"name": "Dr Roux", "role": "GP", "text": "Seen, thank you.", "csrfmiddlewaretoken": token}
    assert clinician.post(url + "note/", data, HTTP_ORIGIN="http://testserver").status_code == 200
    assert ClinicalNote.objects.filter(owner=patient).count() == 1
