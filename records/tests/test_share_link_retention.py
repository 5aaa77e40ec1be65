"""Retention of share links: deleted a while after they close; the access log keeps its events."""

import datetime

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from records import visits
from records.models import ShareLink
from records.retention import share_links_purge
from records.tasks import share_links_purge_task
from records.tests.visit_factories import prepared_visit


@pytest.fixture
def links(patient, settings):
    settings.SHARE_LINK_RETENTION_DAYS = 30
    visit = prepared_visit(patient)
    now = timezone.now()

    def make(**fields):
        link, _token, _code = visits.share_link_create(user=patient, visit=visit)
        ShareLink.objects.filter(pk=link.pk).update(**fields)
        return link

    return {
        "open": make(),
        "expired_recently": make(expires_at=now - datetime.timedelta(days=29)),
        "expired_long_ago": make(expires_at=now - datetime.timedelta(days=31)),
        "revoked_long_ago": make(revoked_at=now - datetime.timedelta(days=45)),
        "revoked_recently": make(revoked_at=now - datetime.timedelta(days=2)),
    }


def test_links_closed_longer_than_the_retention_period_are_deleted(links, patient):
    created_events = AuditEvent.objects.filter(subject=patient, action="share_link.created").count()
    assert share_links_purge() == 2
    left = set(ShareLink.objects.values_list("pk", flat=True))
    assert left == {links[name].pk for name in ("open", "expired_recently", "revoked_recently")}
    assert AuditEvent.objects.filter(subject=patient, action="share_link.created").count() == created_events == 5
    assert share_links_purge_task.apply().get() == 0, "running again removes nothing more"


def test_the_retention_period_is_a_setting(links, settings):
    settings.SHARE_LINK_RETENTION_DAYS = 1
    assert share_links_purge() == 4
    assert set(ShareLink.objects.values_list("pk", flat=True)) == {links["open"].pk}
