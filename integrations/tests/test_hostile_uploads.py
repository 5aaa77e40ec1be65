"""Hostile files and bodies through the whole path a patient or an attacker takes.

The upload form of the Connections page and the webhook endpoint, then the worker's job (run
in this process), then the run's page. Each hostile zip also carries a valid export.xml, so a
safety check that let the file through would show up as data written.

For every case: the answer is a page or a status with a plain message (no traceback, exception
class or path), a run ends failed in plain words, nothing reaches the store or the records, no
file lands outside the upload area, and the encrypted upload follows the policy of
`integrations.services._finish`: removed once imported, kept after a failure (so staff can
retry) until the abandoned-uploads job removes it.
"""

import datetime
import html
import http.server
import io
import json
import re
import stat
import tempfile
import threading
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from integrations.models import SyncRun
from integrations.providers.apple_health.generate import write_export
from integrations.tasks import sync_run_execute_task, uploads_clean_abandoned_task
from integrations.views import TOKEN_HEADER
from records.models import SampleDay
from records.selectors import RECORD_KINDS

MiB = 1 << 20
# A unique name for what a `../` or absolute member would become if anything extracted it.
PWNED = f"pwned-{uuid.uuid4().hex}.txt"
# What must never reach a patient or a caller: tracebacks, exception classes, file paths.
LEAK = re.compile(
    r"Traceback|File \"|\b[A-Z]\w*(?:Error|Exception)\b|site-packages|\.py\b|/work/|/tmp/|/etc/|/usr/|/root/|\\\\"
)

VALID_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<HealthData locale="en_GB">\n'
    b' <ExportDate value="2024-01-02 09:00:00 +0100"/>\n'
    b' <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min"'
    b' startDate="2024-01-01 10:00:00 +0100" endDate="2024-01-01 10:00:00 +0100" value="71"/>\n'
    b' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Phone" unit="count"'
    b' startDate="2024-01-01 10:00:00 +0100" endDate="2024-01-01 10:05:00 +0100" value="420"/>\n'
    b"</HealthData>\n"
)

# Plain messages the parsers and services give (checked as fragments).
NOT_APPLE = "not an Apple Health export"
DAMAGED_ZIP = "zip file is damaged or incomplete"
UNSAFE_PATH = "unsafe path"
SYMLINK = "symbolic link"
BOMB = "compressed far more than a real export"
ENTITIES = "declares XML entities"
NO_EXPORT = "does not contain an Apple Health export"
NOT_MFP = "not a MyFitnessPal export"


# -- hostile files, made here ---------------------------------------------------------------------


def _zip(*members: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def _export(*extra: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    """A valid export.zip with extra (hostile) members."""
    return _zip(("apple_health_export/export.xml", VALID_XML), *extra)


def _symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3  # Unix: the mode bits mean what they say
    return info, target.encode()


def _bomb_xml(size: int) -> bytes:
    # An export.xml padded with whitespace: valid XML, so only its compression ratio gives it away.
    head, tail = VALID_XML.split(b"</HealthData>")
    return head + b" " * size + b"</HealthData>" + tail


def _zip_bomb() -> bytes:
    return _zip(("apple_health_export/export.xml", _bomb_xml(64 * MiB)))


def _lying_sizes() -> bytes:
    """A bomb whose directory claims a tiny member, to slip under the ratio check."""
    data = bytearray(_zip(("apple_health_export/export.xml", _bomb_xml(16 * MiB))))
    claimed = (1000).to_bytes(4, "little")
    local = data.find(b"PK\x03\x04")
    data[local + 22 : local + 26] = claimed
    central = data.find(b"PK\x01\x02")
    data[central + 24 : central + 28] = claimed
    return bytes(data)


def _xxe(entity: bytes, use: bytes = b"&xxe;") -> bytes:
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE HealthData [\n' + entity + b"\n]>\n"
    return head + VALID_XML.split(b"\n", 1)[1].replace(b'sourceName="Watch"', b'sourceName="' + use + b'"')


def _billion_laughs() -> bytes:
    entities = [b'<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        entities.append(b'<!ENTITY lol%d "%s">' % (level, b"".join(b"&lol%d;" % (level - 1) for _ in range(10))))
    return _xxe(b"\n".join(entities), b"&lol9;")


def _truncated_zip(tmp_path: Path) -> bytes:
    write_export(tmp_path / "whole.zip", records=3000, days=10)
    data = (tmp_path / "whole.zip").read_bytes()
    return data[: len(data) // 2]


def _encrypted_flag() -> bytes:
    data = bytearray(_export())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        data[position + offset] |= 0x1
    return bytes(data)


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
NOT_MFP_CSV = b"Date,Description,Amount\n2024-01-01,Groceries,-42.10\n"
MFP_HEADER = b"Date,Meal,Calories,Fat (g),Carbohydrates (g),Protein (g),Note\n"
MFP_ROW = b"2024-01-01,Breakfast,420,10,50,20,\n"


@dataclass(frozen=True)
class Case:
    slug: str
    filename: str
    content_type: str
    content: object  # bytes, or a callable(tmp_path) -> bytes
    message: str  # a fragment of the plain message the patient gets
    refused_at_once: bool = False  # refused by the page itself: no run, no stored file

    def body(self, tmp_path: Path) -> bytes:
        return self.content(tmp_path) if callable(self.content) else self.content


UPLOADS = {
    "zip bomb": Case("apple-health", "export.zip", "application/zip", lambda _t: _zip_bomb(), BOMB),
    "zip bomb with lying sizes": Case(
        "apple-health", "export.zip", "application/zip", lambda _t: _lying_sizes(), DAMAGED_ZIP
    ),
    "../ member": Case(
        "apple-health", "export.zip", "application/zip", _export((f"../../{PWNED}", b"owned")), UNSAFE_PATH
    ),
    "../ member inside the folder": Case(
        "apple-health",
        "export.zip",
        "application/zip",
        _export((f"apple_health_export/../../tmp/{PWNED}", b"owned")),
        UNSAFE_PATH,
    ),
    "backslash ..\\ member": Case(
        "apple-health", "export.zip", "application/zip", _export((f"..\\..\\{PWNED}", b"owned")), UNSAFE_PATH
    ),
    "absolute member": Case(
        "apple-health", "export.zip", "application/zip", lambda t: _export((f"{t}/canary/{PWNED}", b"x")), UNSAFE_PATH
    ),
    "drive letter member": Case(
        "apple-health", "export.zip", "application/zip", _export((f"C:/Windows/{PWNED}", b"owned")), UNSAFE_PATH
    ),
    "symlink member": Case(
        "apple-health",
        "export.zip",
        "application/zip",
        _export(_symlink("apple_health_export/clinical-records/passwd.json", "/etc/passwd")),
        SYMLINK,
    ),
    "symlink export.xml": Case(
        "apple-health",
        "export.zip",
        "application/zip",
        _zip(_symlink("apple_health_export/export.xml", "/etc/passwd")),
        SYMLINK,
    ),
    "XXE file": Case(
        "apple-health", "export.xml", "text/xml", _xxe(b'<!ENTITY xxe SYSTEM "file:///etc/passwd">'), ENTITIES
    ),
    "XXE parameter entity to the network": Case(
        "apple-health",
        "export.xml",
        "text/xml",
        _xxe(b'<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd">\n%remote;', b"Watch"),
        ENTITIES,
    ),
    "XXE inside the zip": Case(
        "apple-health",
        "export.zip",
        "application/zip",
        _zip(("apple_health_export/export.xml", _xxe(b'<!ENTITY xxe SYSTEM "file:///etc/passwd">'))),
        ENTITIES,
    ),
    "billion laughs": Case("apple-health", "export.xml", "text/xml", _billion_laughs(), ENTITIES),
    "entities after a fake end of the DTD": Case(
        "apple-health",
        "export.xml",
        "text/xml",
        _xxe(b'<!ATTLIST HealthData locale CDATA "]>">\n<!ENTITY xxe SYSTEM "file:///etc/passwd">'),
        NOT_APPLE,
    ),
    "truncated zip": Case("apple-health", "export.zip", "application/zip", _truncated_zip, DAMAGED_ZIP),
    "password-protected zip": Case(
        "apple-health", "export.zip", "application/zip", lambda _t: _encrypted_flag(), "password-protected"
    ),
    "XML that is not an Apple export": Case(
        "apple-health", "export.xml", "text/xml", b'<?xml version="1.0"?>\n<svg><text>hi</text></svg>\n', NOT_APPLE
    ),
    "zip without an export": Case(
        "apple-health", "export.zip", "application/zip", _zip(("photos/cat.png", PNG)), NO_EXPORT
    ),
    "CSV that is not a MyFitnessPal export": Case("myfitnesspal", "bank.csv", "text/csv", NOT_MFP_CSV, NOT_MFP),
    "CSV of NUL bytes": Case("myfitnesspal", "nutrition.csv", "text/csv", b"\x00" * 4096, NOT_MFP),
    "CSV in UTF-16": Case(
        "myfitnesspal", "nutrition.csv", "text/csv", (MFP_HEADER + MFP_ROW).decode().encode("utf-16"), "UTF-8"
    ),
    "CSV with an endless line": Case(
        "myfitnesspal", "nutrition.csv", "text/csv", MFP_HEADER + b"2024-01-01,Breakfast," + b"9" * (2 * MiB), "line"
    ),
    "empty file": Case("apple-health", "export.zip", "application/zip", b"", "empty", refused_at_once=True),
    "empty CSV": Case("myfitnesspal", "nutrition.csv", "text/csv", b"", "empty", refused_at_once=True),
    "over the size limit": Case(
        "apple-health", "export.zip", "application/zip", _export(), "larger than", refused_at_once=True
    ),
    "image sent as an Apple export": Case("apple-health", "photo.png", "image/png", PNG, NOT_APPLE),
    "image sent as a MyFitnessPal export": Case("myfitnesspal", "photo.png", "image/png", PNG, "UTF-8"),
    "program sent as a CSV": Case(
        "myfitnesspal", "setup.exe", "application/x-msdownload", b"MZ\x90\x00" * 64, "not UTF-8"
    ),
    "zip sent as a MyFitnessPal export": Case("myfitnesspal", "export.csv", "text/csv", _export(), "zip archive"),
}


# -- what is checked around every case ------------------------------------------------------------


@pytest.fixture
def areas(settings, tmp_path, monkeypatch):
    """Uploads, temporary files and a canary folder of the test's own, to see what lands where."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    scratch = tmp_path / "tmp"
    for folder in ("media", "tmp", "canary"):
        (tmp_path / folder).mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert Path(default_storage.path("uploads/x")) == tmp_path / "media" / "uploads" / "x"
    return tmp_path


def _stored_counts() -> dict[str, int]:
    counts = {"sample days": SampleDay.objects.count()}
    counts.update({kind: model.objects.count() for kind, model in RECORD_KINDS.items()})
    return counts


def _assert_plain(text: str) -> None:
    assert not LEAK.search(text), f"leaks internals: {LEAK.search(text)[0]!r}"


def _assert_nothing_outside(tmp_path: Path) -> None:
    """No extracted member anywhere, no plaintext copy left behind, only encrypted uploads in the upload area."""
    assert not list((tmp_path / "canary").iterdir()), "something was written into the canary folder"
    assert not list((tmp_path / "tmp").iterdir()), "a temporary (plaintext) file was left behind"
    assert not list(tmp_path.rglob(PWNED))
    bases = [Path(settings.BASE_DIR), Path(settings.VAR_DIR), Path(tempfile.gettempdir()), Path.cwd()]
    for base in bases:
        for depth in range(4):
            assert not (base.joinpath(*[".."] * depth) / PWNED).exists(), f"a member was extracted near {base}"
    media = tmp_path / "media"
    for path in media.rglob("*"):
        if path.is_file():
            assert path.relative_to(media).parts[0] == "uploads", f"{path} is outside the upload area"
            raw = path.read_bytes()
            assert b"HealthData" not in raw and b"Date," not in raw and b"PK\x03\x04" not in raw, "stored in clear"


def _upload(client, case: Case, content: bytes):
    upload = SimpleUploadedFile(case.filename, content, case.content_type)
    return client.post(reverse("integrations:upload", args=[case.slug]), {"file": upload}, follow=True)


@pytest.mark.parametrize("name", list(UPLOADS))
def test_a_hostile_upload_fails_in_plain_words_and_writes_nothing(name, patient_client, patient, areas, settings):
    case = UPLOADS[name]
    content = case.body(areas)
    if name == "over the size limit":
        settings.IMPORT_MAX_BYTES = len(content) - 1
    before = _stored_counts()

    response = _upload(patient_client, case, content)
    assert response.status_code == 200
    page = response.content.decode()
    _assert_plain(page)
    run = SyncRun.objects.filter(owner=patient).first()
    if case.refused_at_once:
        assert run is None, "a refused file gets no run"
        assert case.message in page, "the Connections page says why"
        assert not list((areas / "media").rglob("*.*")) and not any(p.is_file() for p in (areas / "media").rglob("*"))
    else:
        assert run is not None and run.outcome == SyncRun.Outcome.QUEUED
        upload_name = run.upload_name
        sync_run_execute_task(run.pk)  # what the worker does with it
        run.refresh_from_db()
        assert run.outcome == SyncRun.Outcome.FAILED, f"{name}: {run.outcome} {run.added} added"
        assert run.error_code and run.error_message and case.message in run.error_message, run.error_message
        _assert_plain(run.error_message)
        assert run.added == 0
        page = patient_client.get(reverse("integrations:run", args=[run.public_id])).content.decode()
        assert run.error_message in html.unescape(page), "the run's page says why"
        _assert_plain(page)
        # A failed run keeps its encrypted upload for a staff retry, until the abandoned-uploads job.
        assert run.upload_name == upload_name and (areas / "media" / upload_name).is_file()
        SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - datetime.timedelta(days=8))
        assert uploads_clean_abandoned_task() == 1
        assert not default_storage.exists(upload_name)

    assert _stored_counts() == before, "nothing reaches the store or the records"
    _assert_nothing_outside(areas)


def test_an_upload_to_a_source_that_takes_none_is_not_found(patient_client, patient, areas):
    response = patient_client.post(
        reverse("integrations:upload", args=["health-auto-export"]),
        {"file": SimpleUploadedFile("x.json", b"{}", "application/json")},
    )
    assert response.status_code == 404
    _assert_plain(response.content.decode())
    assert not SyncRun.objects.filter(owner=patient).exists()


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server interface
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY xxe "owned">')

    def log_message(self, *args):
        pass


def test_an_external_dtd_is_never_fetched(patient_client, patient, areas):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/evil.dtd".encode()
        content = VALID_XML.replace(b"\n", b'\n<!DOCTYPE HealthData SYSTEM "' + url + b'">\n', 1)
        case = Case("apple-health", "export.xml", "text/xml", content, "")
        response = _upload(patient_client, case, content)
        run = SyncRun.objects.get(owner=patient)
        sync_run_execute_task(run.pk)
    finally:
        server.shutdown()
        server.server_close()
    run.refresh_from_db()
    _assert_plain(response.content.decode())
    assert _Recorder.hits == [], "the DTD was fetched"
    # The DOCTYPE only documents the format: it is dropped and the records are read as they are.
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert SampleDay.objects.filter(owner=patient).count() == 2
    _assert_nothing_outside(areas)


def test_a_clinical_record_that_is_not_fhir_leaves_the_rest_of_the_export_whole(
    patient_client, patient, areas, monkeypatch
):
    # Samples are written a batch at a time: with batches of one, this small export writes as a big one does.
    monkeypatch.setattr("integrations.services.SAMPLE_BATCH", 1)
    content = _export(
        ("apple_health_export/clinical-records/a.json", b"[" * 100_000 + b"]" * 100_000),
        ("apple_health_export/clinical-records/b.json", b'{"hello": "not fhir"}'),
    )
    case = Case("apple-health", "export.zip", "application/zip", content, "")
    _upload(patient_client, case, content)
    run = SyncRun.objects.get(owner=patient)
    sync_run_execute_task(run.pk)
    run.refresh_from_db()
    days = SampleDay.objects.filter(owner=patient).count()
    # All or nothing: either the export is imported with the two documents left out and counted,
    # or it fails and nothing of it is written. Never samples written under a failed run.
    assert (run.outcome, days > 0) in {(SyncRun.Outcome.SUCCEEDED, True), (SyncRun.Outcome.FAILED, False)}
    if run.outcome == SyncRun.Outcome.SUCCEEDED:
        assert run.rejected >= 2
    _assert_plain(run.error_message)
    _assert_nothing_outside(areas)


# -- the webhook ----------------------------------------------------------------------------------


@pytest.fixture
def webhook(patient_client):
    response = patient_client.post(reverse("integrations:webhook_setup", args=["health-auto-export"]))
    return response.context["url"], response.context["token"]


def _deep_json(depth: int) -> bytes:
    return b'{"data": ' + b"[" * depth + b"]" * depth + b"}"


@dataclass(frozen=True)
class Post:
    body: bytes
    status: int
    message: str = ""  # in the JSON error (4xx) or the failed run's message (202)
    content_type: str = "application/json"
    token: str | None = None  # None: the connection's own token


POSTS = {
    "malformed JSON": Post(b'{"data": {"metrics": [', 202, "not valid JSON"),
    "JSON nested far too deep": Post(_deep_json(100_000), 202, "not valid JSON"),
    "invalid UTF-8": Post(b'{"data": "\xff\xfe"}', 202, ""),
    "a list instead of an object": Post(b"[]", 202, '"data"'),
    "a string": Post(b'"data"', 202, '"data"'),
    "null": Post(b"null", 202, '"data"'),
    "data is not an object": Post(b'{"data": []}', 202, '"data"'),
    "metrics is not a list": Post(b'{"data": {"metrics": {}}}', 202, '"metrics"'),
    "a metric is not an object": Post(b'{"data": {"metrics": [1]}}', 202, '"metrics"'),
    "a metric without data": Post(b'{"data": {"metrics": [{"name": "step_count"}]}}', 202, '"data"'),
    "workouts is not a list": Post(b'{"data": {"workouts": "many"}}', 202, '"workouts"'),
    "a workout is not an object": Post(b'{"data": {"workouts": [[]]}}', 202, '"workouts"'),
    "empty body": Post(b"", 400, "empty"),
    "wrong content type": Post(b'{"data": {}}', 415, "JSON", content_type="text/plain"),
    "form content type": Post(b"data=1", 415, "JSON", content_type="application/x-www-form-urlencoded"),
    "oversized body": Post(b'{"data": {"metrics": []}, "pad": "' + b" " * (600 * 1024) + b'"}', 413, "too large"),
    "wrong token": Post(b'{"data": {}}', 401, token="not-the-token"),
    "missing token": Post(b'{"data": {}}', 401, token=""),
}


@pytest.mark.parametrize("name", list(POSTS))
def test_a_hostile_webhook_post_is_answered_plainly_and_writes_nothing(
    name, client, patient_client, patient, webhook, areas, monkeypatch
):
    post = POSTS[name]
    url, token = webhook
    monkeypatch.setattr("integrations.views.WEBHOOK_MAX_BYTES", 512 * 1024)
    before = _stored_counts()
    headers = {} if post.token == "" else {f"HTTP_{TOKEN_HEADER.upper().replace('-', '_')}": post.token or token}
    # CONTENT_TYPE too: the test client leaves it out of a request without a body.
    response = client.post(url, post.body, content_type=post.content_type, CONTENT_TYPE=post.content_type, **headers)

    assert response.status_code == post.status
    text = response.content.decode("utf-8", "replace")
    _assert_plain(text)
    run = SyncRun.objects.filter(owner=patient).first()
    if post.status == 401:
        assert response.content == b"", "an outside caller learns nothing"
    if post.status != 202:
        assert run is None
        if post.message:
            assert post.message in json.loads(text)["error"]
    else:
        assert run is not None
        upload_name = run.upload_name
        sync_run_execute_task(run.pk)
        run.refresh_from_db()
        assert run.outcome == SyncRun.Outcome.FAILED, f"{name}: {run.outcome}, {run.added} added"
        assert run.error_message and post.message in run.error_message, run.error_message
        _assert_plain(run.error_message)
        page = patient_client.get(reverse("integrations:run", args=[run.public_id])).content.decode()
        _assert_plain(page)
        assert (areas / "media" / upload_name).is_file(), "kept encrypted after a failure, like an upload"
    assert _stored_counts() == before
    _assert_nothing_outside(areas)


def test_a_webhook_token_works_only_for_its_own_connection(client, patient_client, other_patient, webhook, areas):
    url, token = webhook
    client.force_login(other_patient)
    other = client.post(reverse("integrations:webhook_setup", args=["health-auto-export"])).context["url"]
    client.logout()
    response = client.post(
        other, b'{"data": {}}', content_type="application/json", **{"HTTP_X_HEALTHSPACE_TOKEN": token}
    )
    assert response.status_code == 401 and response.content == b""
    assert not SyncRun.objects.exists()


def test_the_bombs_are_bombs():
    # Only a member that really unpacks past the ratio a real export reaches tests the bomb check.
    info = zipfile.ZipFile(io.BytesIO(_zip_bomb())).infolist()[0]
    assert info.file_size > 1000 * info.compress_size and info.file_size > 16 * MiB
    lying = zipfile.ZipFile(io.BytesIO(_lying_sizes())).infolist()[0]
    assert lying.file_size == 1000 and len(zlib.decompress(_raw_member(_lying_sizes()), -15)) > 16 * MiB


def _raw_member(data: bytes) -> bytes:
    local = data.find(b"PK\x03\x04")
    compressed = int.from_bytes(data[local + 18 : local + 22], "little")
    start = local + 30 + int.from_bytes(data[local + 26 : local + 28], "little")
    start += int.from_bytes(data[local + 28 : local + 30], "little")
    return data[start : start + compressed]
