"""Factories for the named cast (patient, other_patient, staff)."""

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group

from accounts import services
from accounts.models import SUPPORT_GROUP, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(self, create, extracted, **kwargs):
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class PatientFactory(UserFactory):
    """A verified patient who signed up with health-data consent."""

    @factory.post_generation
    def registered(self, create, extracted, **kwargs):
        if create:
            services.patient_register(user=self, display_name="Alex Martin", country="FR", preferred_language="en")


class StaffFactory(UserFactory):
    """Staff in the support group: they may view accounts, consents and the audit trail."""

    is_staff = True
    email = factory.Sequence(lambda n: f"staff{n}@healthspace.example")

    @factory.post_generation
    def support_group(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=SUPPORT_GROUP))
