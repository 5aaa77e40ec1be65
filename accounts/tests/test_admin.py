"""The staff console: a non-default path, staff with MFA only, metadata only."""

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib import admin
from django.urls import reverse

from healthspace.crypto import encrypted_fields


@pytest.fixture
def staff_with_mfa(staff):
    TOTP.activate(staff, generate_totp_secret())
    return staff


def test_the_default_admin_path_does_not_exist(client, db):
    assert client.get("/admin/").status_code == 404


def test_anonymous_visitors_are_sent_to_the_real_login(client, db):
    response = client.get(reverse("admin:index"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))


@pytest.mark.parametrize("name", ["admin:index", "admin:accounts_user_changelist"])
def test_patients_are_refused(client, patient, name):
    client.force_login(patient)
    assert client.get(reverse(name), follow=True).status_code == 403


def test_staff_without_mfa_are_sent_to_set_it_up(client, staff):
    client.force_login(staff)
    response = client.get(reverse("admin:index"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("mfa_index")
    assert "Set up two-factor authentication" in response.content.decode()


def test_staff_with_mfa_see_users_and_consents(client, staff_with_mfa, patient):
    client.force_login(staff_with_mfa)
    assert client.get(reverse("admin:index")).status_code == 200
    page = client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert patient.email in page
    assert client.get(reverse("admin:accounts_consentevent_changelist")).status_code == 200
    assert client.get(reverse("admin:accounts_auditevent_changelist")).status_code == 200


def test_staff_never_see_the_encrypted_birth_date(client, staff_with_mfa, patient):
    import datetime

    patient.profile.date_of_birth = datetime.date(1987, 6, 5)
    patient.profile.save()
    client.force_login(staff_with_mfa)
    page = client.get(reverse("admin:accounts_user_change", args=[patient.pk])).content.decode()
    assert "1987" not in page
    assert "date_of_birth" not in page


def test_no_admin_shows_searches_or_lists_an_encrypted_field(rf, staff_with_mfa):
    request = rf.get("/")
    request.user = staff_with_mfa
    for model, model_admin in admin.site._registry.items():
        secret = {field.name for field in encrypted_fields(model)}
        if not secret:
            continue
        shown = set(model_admin.get_fields(request)) | set(model_admin.get_list_display(request))
        searched = {name.split("__")[0].lstrip("^=@") for name in model_admin.get_search_fields(request)}
        assert not secret & (shown | searched), f"{model._meta.label} exposes {secret & (shown | searched)}"
    for model_admin in admin.site._registry.values():
        for inline in model_admin.inlines:
            secret = {field.name for field in encrypted_fields(inline.model)}
            assert not secret & set(inline.fields or []), f"{inline.model._meta.label} inline exposes {secret}"


def test_ledgers_are_read_only_in_admin(client, staff_with_mfa, patient):
    client.force_login(staff_with_mfa)
    assert client.get(reverse("admin:accounts_consentevent_add")).status_code == 403
    event = patient.consent_events.get()
    response = client.post(reverse("admin:accounts_consentevent_delete", args=[event.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert patient.consent_events.count() == 1


def test_the_support_group_gets_every_permission_it_is_meant_to(db):
    from django.contrib.auth.models import Group

    from accounts.models import SUPPORT_GROUP, SUPPORT_PERMISSIONS

    granted = {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=SUPPORT_GROUP).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }
    assert granted == set(SUPPORT_PERMISSIONS)
