"""Bulk import and export of customers: the mPulse member files, formats, modes, limits, and the report."""

import csv
import io
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


def test_on_conflict_update_reports_the_field_that_clashes(client):
    """An update whose member id belongs to another customer of the account is refused on client_member_id."""
    upload_csv(client, MPULSE_HEADER + "1,Yank,Deboo,1284628753,9436555,12\n2,Ann,Lee,2642745297,7228138,12\n")
    report = upload_csv(client, MPULSE_HEADER + "1,Yank,Deboo,1284628753,7228138,12\n", on_conflict="update").json()
    assert (report["updated"], report["rejected"]) == (0, 1)
    assert [(e["line"], e["field"], e["value"]) for e in report["errors"]] == [(2, "client_member_id", "7228138")]


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


def test_uploads_over_the_limit_are_413(use_settings, client):
    """A file over MAX_IMPORT_BYTES is refused with 413 and nothing is stored."""
    use_settings(max_import_bytes=100)
    response = upload_csv(client, MPULSE_HEADER + "1,Yank,Deboo,1284628753,9436555,12\n" * 5)
    assert response.status_code == 413
    assert count(client) == 0


def test_large_files_run_in_the_background(use_settings, client):
    """Above IMPORT_SYNC_MAX_BYTES the answer is 202 and the job can be followed to the end."""
    import time

    use_settings(import_sync_max_bytes=10)
    response = upload_file(client, DATA / "member_data.csv")
    assert response.status_code == 202
    location = response.headers["location"]
    deadline = time.monotonic() + 30
    while (report := client.get(location).json())["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (report["status"], report["created"]) == ("succeeded", 1000)


def test_cancel_of_a_queued_import_stops_it_and_is_in_the_trail(app, client, use_settings, tmp_path):
    """POST /api/imports/{id}/cancel on a queued job: 200, status cancelled, the upload gone, an activity entry."""
    from tests.services.test_imports import members_csv, queued_job

    use_settings(import_dir=tmp_path)
    with app.app.app_context():
        job_id = queued_job(members_csv(10))
    response = client.post(f"/api/imports/{job_id}/cancel")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["created"]) == ("cancelled", 0)
    assert client.get(f"/api/imports/{job_id}").json()["status"] == "cancelled"
    assert list(tmp_path.iterdir()) == []
    trail = client.get("/api/activity", params={"action": "import.cancelled"}).json()["items"]
    assert [entry["target"] for entry in trail] == [f"import:{job_id}"]


def test_cancel_of_an_ended_import_is_409_and_of_an_unknown_one_404(client):
    """An import that succeeded cannot be cancelled (409 naming status); an unknown id is 404."""
    report = upload_file(client, DATA / "member_data_with_duplicate_records.csv").json()
    ended = client.post(f"/api/imports/{report['id']}/cancel")
    assert ended.status_code == 409
    assert ended.headers["content-type"].startswith("application/problem+json")
    assert ended.json()["errors"][0]["field"] == "status"
    assert client.get(f"/api/imports/{report['id']}").json()["status"] == "succeeded"
    assert client.post("/api/imports/nope/cancel").status_code == 404


def test_cancel_is_for_staff_and_admins(client, client_as, anon_client):
    """A customer gets 403, nobody signed in 401."""
    report = upload_csv(client, bad_rows_file(1)).json()
    path = f"/api/imports/{report['id']}/cancel"
    assert client_as("customer").post(path).status_code == 403
    assert anon_client.post(path).status_code == 401


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


def errors_csv(client, import_id: str):
    """GET the full error list of an import; the response and its rows (header first)."""
    response = client.get(f"/api/imports/{import_id}/errors.csv")
    return response, list(csv.reader(io.StringIO(response.text)))


def bad_rows_file(bad: int) -> str:
    """Two good rows with the same email (the second refused when its batch is written), then `bad` rows whose
    email is invalid; every second one also has an impossible phone number."""
    rows = ["ok1,dup@example.com,", "ok2,dup@example.com,"]
    rows += [f"b{i},bad-{i},{'12' if i % 2 else ''}" for i in range(bad)]
    return "id,email,phone_number\n" + "\n".join(rows) + "\n"


def test_5000_bad_rows_give_a_report_of_1000_errors_exact_counts_and_the_full_list_as_csv(client):
    """Default cap: the first 1,000 errors by line, counts summing to every error, all of them in errors.csv."""
    text = bad_rows_file(5000)
    report = upload_csv(client, text).json()
    assert (report["rows_read"], report["created"], report["rejected"]) == (5002, 1, 5001)
    assert len(report["errors"]) == 1000 and report["errors_truncated"] is True
    # The duplicate on line 3 is found after every later line was checked; it still comes first.
    assert (report["errors"][0]["line"], report["errors"][0]["message"]) == (3, "is already taken")
    lines = [e["line"] for e in report["errors"]]
    assert lines == sorted(lines)
    counts = report["error_counts"]
    assert sum(c["count"] for c in counts) == 1 + 5000 + 2500
    assert [c["count"] for c in counts] == [5000, 2500, 1]
    assert (counts[0]["field"], counts[1]["field"]) == ("email", "phone_number")
    assert client.get(f"/api/imports/{report['id']}").json()["error_counts"] == counts

    response, rows = errors_csv(client, report["id"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert rows[0] == ["line", "field", "message", "value"]
    assert len(rows) - 1 == 7501
    file_lines = text.splitlines()
    assert [int(r[0]) for r in rows[1:]] == sorted(int(r[0]) for r in rows[1:])
    for line, field_name, _, value in rows[1:]:
        cells = dict(zip(("id", "email", "phone_number"), file_lines[int(line) - 1].split(","), strict=True))
        assert cells[field_name] == value, (line, field_name, value)
    assert [dict(zip(rows[0], r, strict=True)) for r in rows[1:1001]] == [
        {**e, "line": str(e["line"])} for e in report["errors"]
    ]


def test_a_small_cap_lists_that_many_errors(use_settings, client):
    """IMPORT_REPORT_MAX_ERRORS=2: two errors listed, counts and errors.csv still cover all; 0 lists none."""
    use_settings(import_report_max_errors=2)
    report = upload_csv(client, bad_rows_file(5)).json()
    use_settings(import_report_max_errors=0)
    none_listed = upload_csv(client, bad_rows_file(1)).json()
    assert [e["line"] for e in report["errors"]] == [3, 4] and report["errors_truncated"] is True
    assert sum(c["count"] for c in report["error_counts"]) == 1 + 5 + 2
    assert len(errors_csv(client, report["id"])[1]) - 1 == 8
    assert none_listed["errors"] == [] and none_listed["errors_truncated"] is True
    assert sum(c["count"] for c in none_listed["error_counts"]) == 3  # both dup@ rows are taken now


def test_a_report_under_the_cap_is_not_truncated(client):
    """Fewer errors than the cap: every one listed, errors_truncated false, the same list as errors.csv."""
    report = upload_file(client, DATA / "member_data_with_duplicate_records.csv").json()
    assert report["errors_truncated"] is False
    assert sum(c["count"] for c in report["error_counts"]) == len(report["errors"]) == 4
    assert [int(r[0]) for r in errors_csv(client, report["id"])[1][1:]] == [4, 27, 40, 49]


def test_errors_csv_neutralises_formulas(client):
    """Values starting with = + - @ get a leading quote in errors.csv; the JSON report keeps them as sent."""
    emails = ['=HYPERLINK("http://evil.example")', "+1+2", "-2+3", "@SUM(A1:A2)", "plain"]
    text = "id,email\n" + "".join(f'e{i},"{e.replace(chr(34), chr(34) * 2)}"\n' for i, e in enumerate(emails))
    report = upload_csv(client, text).json()
    assert [e["value"] for e in report["errors"]] == emails
    _, rows = errors_csv(client, report["id"])
    assert [r[3] for r in rows[1:]] == ["'" + e for e in emails[:4]] + ["plain"]


def test_errors_csv_keeps_values_that_are_empty_nul_or_span_lines(client):
    """A row error without a value is an empty cell; NUL and line breaks survive the round trip."""
    text = 'id,first_name,email\nn1,"Multi\nLine",\nn2,A\x00B,a@example.com\nn3,,\n'
    report = upload_csv(client, text).json()
    assert report["rejected"] == 3
    _, rows = errors_csv(client, report["id"])
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("2", "first_name", "Multi\nLine"),
        ("4", "first_name", "A\ufffdB"),
        ("5", "row", ""),
    ]


def test_errors_csv_is_for_staff_and_admins(client, client_as, anon_client):
    """A customer gets 403, nobody signed in 401, staff the file."""
    report = upload_csv(client, bad_rows_file(1)).json()
    path = f"/api/imports/{report['id']}/errors.csv"
    assert client_as("customer").get(path).status_code == 403
    assert anon_client.get(path).status_code == 401
    assert client_as("staff").get(path).status_code == 200


def test_errors_csv_of_an_unknown_import_is_404(client):
    """An id that names no import: 404 problem."""
    response = client.get("/api/imports/nope/errors.csv")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_failed_atomic_import_keeps_its_full_error_list(use_settings, client):
    """Atomic mode rolls the rows back, not the errors: the report is capped, errors.csv has them all."""
    use_settings(import_report_max_errors=2)
    report = upload_file(client, DATA / "member_data_with_duplicate_records.csv", mode="atomic").json()
    assert (report["status"], report["created"], report["rejected"]) == ("failed", 0, 4)
    assert [e["line"] for e in report["errors"]] == [4, 27] and report["errors_truncated"] is True
    assert [int(r[0]) for r in errors_csv(client, report["id"])[1][1:]] == [4, 27, 40, 49]
    assert count(client) == 0


def test_background_import_stores_every_error_and_removes_its_files(use_settings, client, tmp_path):
    """A job run in the background: capped report, full errors.csv, and nothing left in IMPORT_DIR."""
    import time

    use_settings(import_sync_max_bytes=10, import_dir=tmp_path, import_report_max_errors=10)
    response = upload_csv(client, bad_rows_file(30))
    assert response.status_code == 202
    deadline = time.monotonic() + 30
    while (report := client.get(response.headers["location"]).json())["status"] in ("queued", "running"):
        assert len(report["errors"]) <= 10
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(report["errors"]) == 10 and report["errors_truncated"] is True
    assert len(errors_csv(client, report["id"])[1]) - 1 == 1 + 30 + 15
    assert list(tmp_path.iterdir()) == []
