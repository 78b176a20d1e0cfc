"""Staff upload a metrics CSV in the admin; a worker imports it and the page shows its progress."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from creatornext.accounts.models import CreatorProfile
from creatornext.core import config
from eligibility.imports import IMPORT_MAX_BYTES, run_metrics_import
from eligibility.models import MetricsImport
from tests.eligibility.helpers import make_creator
from tests.support.world import make_user

pytestmark = pytest.mark.django_db

HEADER = "handle,followers,views_30d,posts_30d,account_created_at,account_type,standing,fraud_flag\n"
URL = "/admin/eligibility/metricsimport/"


@pytest.fixture
def staff(client):
    user = make_user("boss", staff=True)
    user.is_superuser = True
    user.save()
    client.force_login(user)
    return user


def _upload(client, text: str, name: str = "metrics.csv"):
    return client.post(URL + "add/", {"upload": SimpleUploadedFile(name, text.encode(), "text/csv")})


def test_an_uploaded_csv_is_imported_by_the_worker_with_its_progress_and_report(
        client, staff, django_capture_on_commit_callbacks):
    maya = make_creator("maya", followers=100)
    make_creator("otto", followers=200)
    rows = ["maya,12000,5000,4,2024-05-01,personal,good,false",
            "otto,300,1000,5,2020-01-01,personal,good,false",
            "ghost,1,1,1,2024-05-01,personal,good,false"]  # unknown handle: refused, reported
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, HEADER + "\n".join(rows) + "\n")
    assert response.status_code == 302
    job = MetricsImport.objects.get()
    assert (job.status, job.rows_total, job.rows_done, job.uploaded_by) == ("done", 3, 3, staff)
    assert (job.changed, job.refused) == (2, 1) and "line 4 (@ghost): unknown handle" in job.report
    assert CreatorProfile.objects.get(pk=maya.pk).followers == 12000
    page = client.get(f"{URL}{job.pk}/change/").content.decode()
    assert '<progress value="3" max="3"' in page and "js/admin_poll.js" in page
    assert "js/admin_poll.js" in client.get(URL).content.decode()


def test_a_queued_import_shows_its_progress_and_runs_once(client, staff):
    make_creator("maya", followers=100)
    _upload(client, HEADER + "maya,12000,5000,4,2024-05-01,personal,good,false\n")  # worker not run
    job = MetricsImport.objects.get()
    assert job.status == "queued"
    assert '<progress value="0" max="1"' in client.get(f"{URL}{job.pk}/change/").content.decode()
    run_metrics_import(job.pk)
    run_metrics_import(job.pk)  # a second delivery finds it done and does nothing
    job.refresh_from_db()
    assert (job.status, job.changed) == ("done", 1)


def test_a_bad_header_fails_the_job_and_a_too_large_file_is_refused(client, staff,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, "handle,followers\nmaya,1\n")
    job = MetricsImport.objects.get()
    assert job.status == "failed" and "the header lacks column(s)" in job.report
    config.set_value(definition=IMPORT_MAX_BYTES, value=10, actor=staff, reason="test")
    response = _upload(client, HEADER)
    assert response.status_code == 200 and "larger than 10 bytes" in response.content.decode()
    assert MetricsImport.objects.count() == 1
