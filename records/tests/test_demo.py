"""The demo patient's records: real Synthea data and generated wearable data, loaded once."""

from django.core.management import call_command

from records.models import Condition, SampleDay
from records.timeseries import metrics_for_user


def test_demo_records_load_once(patient):
    call_command("load_demo_records", patient.email, "--days", "10")
    conditions = Condition.objects.filter(owner=patient).count()
    days = SampleDay.objects.filter(owner=patient).count()
    assert conditions == 9
    assert {"heart_rate", "resting_heart_rate", "steps", "sleep"} <= set(metrics_for_user(owner=patient))
    call_command("load_demo_records", patient.email, "--days", "10")
    assert Condition.objects.filter(owner=patient).count() == conditions
    assert SampleDay.objects.filter(owner=patient).count() == days
