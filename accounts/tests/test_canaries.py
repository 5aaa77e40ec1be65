"""Canary strings planted in every text field of a patient's data never leak: not into the logs (at DEBUG),
Redis, the admin log or emails, and the outside AI provider receives only what a question needed.

The patient lives a whole life here: signs in, reads their pages, asks the outside assistant, restricts and
lifts, exports and downloads, then erases the account. Redis is scanned when REDIS_URL is set (the test
database's own Redis db: run with REDIS_URL=redis://127.0.0.1:6379/<n>).
"""

import json
import logging
import re

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.urls import reverse

from accounts.erasure import erasure_request
from accounts.models import AccountErasure, ConsentPurpose, DataExport
from accounts.services import consent_set
from accounts.tasks import account_erase_task, data_export_build_task
from accounts.tests.factories import PASSWORD
from accounts.tests.privacy_data import fill_everything
from chat import services as chat_services

TAG = "CANARY-d41c"
CANARY = re.compile(rf"{TAG}-(?P<model>[a-z]+)-(?P<field>[a-z_]+)")
# What a question about medications needs; memory is the assistant's context by design (the patient confirmed it).
NEEDED = {"medication", "memoryfact"}


def _redis_dump() -> str:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    found = []
    for key in client.scan_iter(count=500):
        found.append(key.decode("utf-8", "replace"))
        kind = client.type(key)
        if kind == b"string":
            found.append((client.get(key) or b"").decode("utf-8", "replace"))
        elif kind == b"list":
            found += [item.decode("utf-8", "replace") for item in client.lrange(key, 0, -1)]
        elif kind == b"hash":
            found += [f"{k!r}={v!r}" for k, v in client.hgetall(key).items()]
        elif kind in (b"set", b"zset"):
            found += [repr(item) for item in (client.smembers(key) if kind == b"set" else client.zrange(key, 0, -1))]
    return "\n".join(found)


def test_canaries_never_leave_where_they_belong(client, patient, fake_openai, media, caplog):
    caplog.set_level(logging.DEBUG)
    fill_everything(patient, tag=TAG)
    consent_set(user=patient, purpose=ConsentPurpose.AI_ASSISTANT, granted=True)

    client.force_login(patient)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    for name in ("records:index", "accounts:inventory", "accounts:access_log", "chat:index", "integrations:index"):
        assert client.get(reverse(name)).status_code == 200, name
    conversation = chat_services.conversation_create(owner=patient)
    for _event in chat_services.message_reply(
        owner=patient, text="CALL medications {} Which medications do I take?", language="en", conversation=conversation
    ):
        pass
    client.post(reverse("accounts:restriction_change"), {"restrict": "on"})
    client.post(reverse("accounts:restriction_change"))
    client.post(reverse("accounts:export_ask"))
    export = DataExport.objects.get()
    data_export_build_task.apply(args=[export.pk])
    response = client.get(reverse("accounts:export_download", args=[export.public_id]))
    archive = b"".join(response.streaming_content)
    assert archive  # the patient's own copy holds everything, decrypted: that is its point
    erasure_request(user=patient)
    account_erase_task.apply(args=[AccountErasure.objects.get().pk])

    # What reached the outside provider: the medications the question asked for, never the rest.
    sent = json.dumps(fake_openai.requests)
    models_sent = {match.group("model") for match in CANARY.finditer(sent)}
    assert "medication" in models_sent, "the question's data did reach the provider"
    assert models_sent <= NEEDED, models_sent - NEEDED
    # Nowhere else.
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records and TAG not in logs and TAG not in caplog.text
    admin_log = " ".join(f"{entry.object_repr} {entry.change_message}" for entry in LogEntry.objects.all())
    assert TAG not in admin_log
    assert mail.outbox and not any(TAG in f"{m.subject} {m.body}" for m in mail.outbox)
    if settings.REDIS_URL:
        assert TAG not in _redis_dump()
