"""Bulk import and export of customers: the mPulse member files, formats, modes, limits, and the report."""

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "mpulse"
MPULSE_HEADER = "id,first_name,last_name,phone_number,client_member_id,account_id\n"


def upload_csv(client, text: str | bytes, **params):
    """POST a text/csv body."""
    body = text.encode() if isinstance(text, str) else text
    return client.post("/api/customers/import", params=params, content=body, headers={"Content-Type": "text/csv"})


def upload_file(client, path: Path, **params):
    """POST a multipart form with the file."""
    with open(path, "rb") as handle:
        return client.post("/api/customers/import", params=params, files={"file": (path.name, handle, "text/csv")})


def count(client) -> int:
    return len(export_lines(client)) - 1


def export_lines(client, **params) -> list[str]:
    response = client.get("/api/customers/export", params=params)
    assert response.status_code == 200, response.text
    return response.text.splitlines()


def test_member_data_imports_all_1000_rows(client):
    """The mPulse member file imports unchanged: every row stored, numbers in E.164."""
    response = upload_file(client, DATA / "member_data.csv")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "succeeded"
    assert (report["rows_read"], report["created"], report["rejected"]) == (1000, 1000, 0)
    assert report["errors"] == []
    assert response.headers["location"] == f"/api/imports/{report['id']}"
    yank = client.get("/api/customers/1").json()
    assert (yank["first_name"], yank["phone_number"], yank["account_id"]) == ("Yank", "+11284628753", 12)
    assert client.get(f"/api/imports/{report['id']}").json()["created"] == 1000


def test_member_file_with_duplicates_stores_46_and_names_4(client):
    """Lines 4, 27, 40 and 49 repeat a phone or member id inside their account: rejected, field named."""
    report = upload_file(client, DATA / "member_data_with_duplicate_records.csv").json()
    assert (report["rows_read"], report["created"], report["rejected"]) == (50, 46, 4)
    assert [e["line"] for e in report["errors"]] == [4, 27, 40, 49]
    assert {e["field"] for e in report["errors"]} <= {"phone_number", "client_member_id"}
    assert all(e["message"] == "is already taken" and e["value"] for e in report["errors"])
    assert count(client) == 46


def test_the_same_file_twice_stores_each_row_once(client):
    """Uploading again rejects every row as already taken and stores nothing new."""
    upload_file(client, DATA / "member_data_with_duplicate_records.csv")
    again = upload_file(client, DATA / "member_data_with_duplicate_records.csv").json()
    assert (again["created"], again["rejected"]) == (0, 50)
    assert count(client) == 46


def test_atomic_mode_stores_all_or_nothing(client):
    """One bad row and nothing is stored; the report still lists every problem."""
    report = upload_file(client, DATA / "member_data_with_duplicate_records.csv", mode="atomic").json()
    assert report["status"] == "failed"
    assert (report["created"], report["rejected"]) == (0, 4)
    assert count(client) == 0
    good = upload_file(client, DATA / "member_data.csv", mode="atomic").json()
    assert (good["status"], good["created"]) == ("succeeded", 1000)


def test_on_conflict_update_upserts_by_id(client):
    """Rows whose id exists are updated, others created; updated_at moves."""
    upload_csv(client, MPULSE_HEADER + "1,Yank,Deboo,1284628753,9436555,12\n")
    before = client.get("/api/customers/1").json()
    report = upload_csv(
        client,
        MPULSE_HEADER + "1,Yannick,Deboo,1284628753,9436555,12\n2,Ann,Lee,2642745297,7228138,5\n",
        on_conflict="update",
    ).json()
    assert (report["created"], report["updated"], report["rejected"]) == (1, 1, 0)
    after = client.get("/api/customers/1").json()
    assert after["first_name"] == "Yannick"
    assert after["updated_at"] > before["updated_at"]


def test_formats_bom_crlf_quotes_blank_lines_and_any_case_header(client):
    """UTF-8 with BOM, CRLF, quoted commas and quotes, blank lines, a mixed-case header: all read."""
    text = (
        "\ufeffID,First_Name,LAST_NAME,Email,Phone_Number,Country\r\n"
        "\r\n"
        'a1,"Smith, Jr.","O""Neil",A1@Example.com,(323) 555-1234,us\r\n'
        '"a2","Multi\r\nLine",Lee,a2@example.com,,BR\r\n'
        "\r\n"
        "a3,Zoë,Ñúñez,a3@example.com,+44 20 7946 0958,GB\r\n"
    )
    report = upload_csv(client, text.encode("utf-8")).json()
    assert (report["rows_read"], report["created"], report["rejected"]) == (3, 2, 1), report
    first = client.get("/api/customers/a1").json()
    assert (first["first_name"], first["last_name"], first["email"]) == ("Smith, Jr.", 'O"Neil', "a1@example.com")
    assert first["phone_number"] == "+13235551234" and first["country"] == "US"
    # A quoted field may span lines; a name may not hold a line break. The row is reported at its first line.
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(4, "first_name")]
    assert client.get("/api/customers/a3").json()["phone_number"] == "+442079460958"


def test_every_bad_row_is_reported_by_line_field_and_value(client):
    """Invalid values, wrong column counts and missing contacts: each rejected, the rest stored."""
    text = (
        "id,email,phone_number,account_id,document\n"
        "ok1,ok1@example.com,,,\n"
        "bad-email,not-an-email,,,\n"
        "bad-phone,,12,,\n"
        "bad-account,,,abc,\n"
        "short,only-two-cells\n"
        "bad-cpf,,,,111.111.111-11\n"
        "no-contact,,,7,\n"
        "ok2,,3235551234,7,\n"
    )
    report = upload_csv(client, text).json()
    assert (report["rows_read"], report["created"], report["rejected"]) == (8, 2, 6)
    by_line = {e["line"]: e for e in report["errors"]}
    assert (by_line[3]["field"], by_line[3]["value"]) == ("email", "not-an-email")
    assert by_line[4]["field"] == "phone_number"
    assert by_line[5]["field"] == "account_id"
    assert by_line[6]["field"] == "row" and "columns" in by_line[6]["message"]
    assert by_line[7]["field"] == "document"
    assert by_line[8]["field"] == "row"
    assert count(client) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (MPULSE_HEADER.encode(), "no data rows"),
        (b"id,nickname\n1,x\n", "unknown columns"),
        (b"id,email,EMAIL\n1,a@b.co,a@b.co\n", "repeats"),
        (bytes(range(256)) * 4, "CSV text"),
        (b"\xff\xfeid\n", "UTF-8"),
    ],
)
def test_files_refused_whole_get_a_clear_400(client, content, message):
    """Empty, header-only, unknown or repeated columns, binary: 400 naming `file`, nothing stored."""
    response = upload_csv(client, content)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "file"
    assert message in response.json()["errors"][0]["message"]
    assert count(client) == 0


def test_bad_encoding_midway_is_reported_by_line(client):
    """Rows before the broken line are stored; the report says where reading stopped."""
    content = (MPULSE_HEADER + "1,Ann,Lee,3235551234,M1,1\n").encode() + b"2,\xff\xfe,Lee,3235551235,M2,1\n"
    report = upload_csv(client, content).json()
    assert report["status"] == "failed"
    assert "line 3" in report["detail"]
    assert report["created"] == 1


def test_uploads_over_the_limit_are_413(app, client):
    """A file over MAX_IMPORT_BYTES is refused with 413 and nothing is stored."""
    app.app.config["MAX_IMPORT_BYTES"] = 100
    try:
        response = upload_csv(client, MPULSE_HEADER + "1,Yank,Deboo,1284628753,9436555,12\n" * 5)
    finally:
        app.app.config["MAX_IMPORT_BYTES"] = 1024**3
    assert response.status_code == 413
    assert count(client) == 0


def test_large_files_run_in_the_background(app, client):
    """Above IMPORT_SYNC_MAX_BYTES the answer is 202 and the job can be followed to the end."""
    import time

    app.app.config["IMPORT_SYNC_MAX_BYTES"] = 10
    try:
        response = upload_file(client, DATA / "member_data.csv")
    finally:
        app.app.config["IMPORT_SYNC_MAX_BYTES"] = 1024 * 1024
    assert response.status_code == 202
    location = response.headers["location"]
    deadline = time.monotonic() + 30
    while (report := client.get(location).json())["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (report["status"], report["created"]) == ("succeeded", 1000)


def test_interrupted_jobs_are_marked_failed(app, app_context):
    """A job left running by a stopped process is failed at the next start, saying so."""
    from models import ImportJob, db
    from services.import_jobs import mark_interrupted_jobs

    db.session.add(ImportJob(id="stuck", status="running", mode="best_effort", on_conflict="reject", errors=[]))
    db.session.commit()
    assert mark_interrupted_jobs() == 1
    job = db.session.scalars(db.select(ImportJob).where(ImportJob.id == "stuck")).one()
    assert job.status == "failed" and "restart" in job.detail


def test_export_round_trips_into_an_empty_database(client):
    """Export, erase everything, import the export: the same customers come back."""
    client.post(
        "/api/customers",
        json={
            "id": "e1",
            "email": "e1@example.com",
            "first_name": "Ana, Maria",
            "document": "52998224725",
            "country": "BR",
            "language": "pt",
        },
    )
    upload_file(client, DATA / "member_data_with_duplicate_records.csv")
    exported = client.get("/api/customers/export").text
    originals = {c: client.get(f"/api/customers/{c}").json() for c in ("e1", "1", "49")}
    for line in exported.splitlines()[1:]:
        assert client.delete(f"/api/customers/{line.split(',')[0]}").status_code == 204
    assert count(client) == 0
    report = upload_csv(client, exported).json()
    assert (report["created"], report["rejected"]) == (47, 0)
    strip = ("created_at", "updated_at")
    for ref, original in originals.items():
        again = client.get(f"/api/customers/{ref}").json()
        assert {k: v for k, v in again.items() if k not in strip} == {
            k: v for k, v in original.items() if k not in strip
        }


def test_export_filters_like_the_collection(client):
    """?account_id= limits the export."""
    upload_file(client, DATA / "member_data.csv")
    lines = export_lines(client, account_id=12)
    assert lines[0].startswith("id,email,first_name")
    assert len(lines) > 1 and all(line.split(",")[6] == "12" for line in lines[1:])


def test_customers_cannot_import(client_as):
    """Only staff and admins import or export."""
    customer = client_as("customer")
    assert upload_csv(customer, MPULSE_HEADER).status_code == 403
    assert customer.get("/api/customers/export").status_code == 403


def test_cli_import_and_export(app, client, tmp_path):
    """`flask --app app customers import FILE` reports like the API; `customers export` writes CSV."""
    runner = app.app.test_cli_runner()
    result = runner.invoke(args=["customers", "import", str(DATA / "member_data_with_duplicate_records.csv")])
    assert result.exit_code == 0, result.output
    assert "Read 50 rows: 46 created, 0 updated, 4 rejected." in result.output
    assert "line 4: " in result.output
    exported = runner.invoke(args=["customers", "export", "--account-id", "5"])
    assert exported.exit_code == 0
    rows = exported.output.splitlines()
    assert rows[0].startswith("id,") and all(r.split(",")[6] == "5" for r in rows[1:])
    atomic = runner.invoke(
        args=["customers", "import", "--mode", "atomic", str(DATA / "member_data_with_duplicate_records.csv")]
    )
    assert atomic.exit_code != 0
    assert count(client) == 46
