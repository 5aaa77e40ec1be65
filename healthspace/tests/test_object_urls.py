"""Walk every URL that takes an object id: only its owner ever reaches the object.

The walk reads the URLconf, so a new URL with a `public_id` is covered without editing this test.
"""

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from records.selectors import RECORD_KINDS
from records.tests.factories import one_of_each

METHODS = ["get", "post", "put", "patch", "delete"]


def _object_patterns(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _object_patterns(entry, ns)
        elif isinstance(entry, URLPattern) and "public_id" in entry.pattern.converters:
            yield f"{namespace}{entry.name}", set(entry.pattern.converters)


OBJECT_URLS = sorted(_object_patterns())


def _urls_for(name, params, records):
    for kind, record in records.items():
        if "kind" in params:
            yield reverse(name, kwargs={"kind": kind, "public_id": record.public_id})
        elif name.startswith("records:document") and kind == "documents":
            yield reverse(name, kwargs={"public_id": record.public_id})


def _without_csrf(html: bytes) -> bytes:
    # The CSRF token is masked afresh on every response and the language form returns to the
    # requested path; everything else must be identical.
    html = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", html)
    return re.sub(rb'name="next" type="hidden" value="[^"]+"', b"", html)


def _snapshot(records):
    return {kind: type(record).objects.filter(pk=record.pk).values().first() for kind, record in records.items()}


def test_the_walk_finds_the_record_urls():
    names = {name for name, _params in OBJECT_URLS}
    assert {"records:detail", "records:edit", "records:delete", "records:document_download"} <= names


@pytest.mark.parametrize(("name", "params"), OBJECT_URLS, ids=[name for name, _ in OBJECT_URLS])
def test_only_the_owner_reaches_an_object(name, params, patient, other_patient, staff):
    records = one_of_each(patient)
    assert set(records) == set(RECORD_KINDS)
    before = _snapshot(records)
    owner, other, staff_client, anonymous = Client(), Client(), Client(), Client()
    owner.force_login(patient)
    other.force_login(other_patient)
    staff_client.force_login(staff)
    urls = list(_urls_for(name, params, records))
    assert urls, f"{name}: no object to walk it with"
    for url in urls:
        if "delete" not in name:
            assert owner.get(url).status_code == 200, f"the owner cannot open {url}"
        for method in METHODS:
            for client, who in ((other, "another patient"), (staff_client, "staff")):
                response = getattr(client, method)(url)
                # Staff never gave health-data consent: the gate sends them to the consent page.
                gated = response.status_code == 302 and response.url == reverse("accounts:consents")
                assert response.status_code in (404, 405) or gated, (
                    f"{who} got {response.status_code} on {method.upper()} {url}"
                )
            response = getattr(anonymous, method)(url)
            assert response.status_code in (302, 405), f"anonymous got {response.status_code} on {method.upper()} {url}"
            if response.status_code == 302:
                assert response.url.startswith(reverse("account_login"))
    assert _snapshot(records) == before, "a request by someone else changed a record"


@pytest.mark.parametrize("kind", list(RECORD_KINDS))
def test_an_unknown_id_is_the_same_404_as_someone_elses(client, patient, other_patient, kind):
    records = one_of_each(other_patient)
    client.force_login(patient)
    theirs = client.get(reverse("records:detail", kwargs={"kind": kind, "public_id": records[kind].public_id}))
    unknown = client.get(reverse("records:detail", kwargs={"kind": kind, "public_id": uuid.uuid4()}))
    assert theirs.status_code == unknown.status_code == 404
    assert _without_csrf(theirs.content) == _without_csrf(unknown.content)


def _test_key_patterns(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _test_key_patterns(entry, ns)
        elif isinstance(entry, URLPattern) and "test_key" in entry.pattern.converters:
            yield f"{namespace}{entry.name}"


TEST_KEY_URLS = sorted(_test_key_patterns())


def test_the_walk_finds_the_lab_test_urls():
    assert "records:lab_test" in TEST_KEY_URLS


@pytest.mark.parametrize("name", TEST_KEY_URLS)
def test_only_the_owner_reaches_a_lab_test_history(name, patient, other_patient, staff):
    records = one_of_each(patient)
    url = reverse(name, kwargs={"test_key": records["lab-results"].test_key})
    owner, other, staff_client, anonymous = Client(), Client(), Client(), Client()
    owner.force_login(patient)
    other.force_login(other_patient)
    staff_client.force_login(staff)
    assert owner.get(url).status_code == 200
    for method in METHODS:
        assert getattr(other, method)(url).status_code in (404, 405)
        response = getattr(staff_client, method)(url)
        assert response.status_code in (404, 405) or response.url == reverse("accounts:consents")
        response = getattr(anonymous, method)(url)
        assert response.status_code in (302, 405)
