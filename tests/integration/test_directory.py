from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbridge.cli import main
from mailbridge.directory import csv_file, records
from mailbridge.directory.csv_file import REQUIRED_COLUMNS, parse_csv
from mailbridge.directory.records import RowError, Staff
from mailbridge.errors import MailbridgeError
from mailbridge.store.directory import (
    allocation_history,
    children_for_sender,
    current_allocations,
    import_directory,
    load_snapshot,
)
from mailbridge.store.models import Allocation, AuditEntry, Child, Placement

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "directory.csv"
HEADER = ",".join(REQUIRED_COLUMNS)
T1 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
T3 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

JORDAN = (
    "100231,Jordan,Carter,2011-03-14,Oakview House,"
    "oakview@homes.example;manager@oakview.example,Sam Patel,sam.patel@council.example,"
    "Ruth Okafor,ruth.okafor@council.example,tm.north@council.example"
)
CHLOE = (
    "100232,Chloé,Dubois,2009-07-02,Riverside Foster Home,riverside.carers@fostering.example,"
    "Amy Jones,amy.jones@council.example,Ruth Okafor,ruth.okafor@council.example,"
    "tm.north@council.example"
)


def fixture_text() -> str:
    return FIXTURE.read_text(encoding="utf-8")


def apply(engine, text: str, now: datetime = T1) -> records.ImportReport:
    with Session(engine) as session, session.begin():
        return import_directory(session, parse_csv(text), now=now, actor="test")


# -- parsing (pure) ---------------------------------------------------------------------


def test_fixture_parses_cleanly_with_the_children_others_rely_on():
    parsed = parse_csv(fixture_text())
    assert parsed.errors == ()
    assert len(parsed.rows) == 12
    assert parsed.has_placement_type
    by_id = {r.child_id: r for r in parsed.rows}
    jordan = by_id["100231"]
    assert (jordan.first_name, jordan.last_name, jordan.date_of_birth) == (
        "Jordan",
        "Carter",
        date(2011, 3, 14),
    )
    assert jordan.carer_emails == ("oakview@homes.example", "manager@oakview.example")
    assert jordan.social_worker == Staff("Sam Patel", "sam.patel@council.example")
    assert jordan.team_manager == Staff(None, "tm.north@council.example")
    assert jordan.placement_type == "Children's home"
    assert jordan.attributes == {"locality": "North"}
    assert by_id["100232"].first_name == "Chloé"
    assert by_id["100250"].first_name == "Zoë"
    alexes = sorted((r.child_id, r.last_name) for r in parsed.rows if r.first_name == "Alex")
    assert alexes == [("100240", "Morgan"), ("100241", "Smith")]
    assert any(r.iro is None for r in parsed.rows)
    assert by_id["100238"].placement_name == "The Elms, Harrow Road"


def test_bad_rows_are_reported_by_their_real_line_number():
    text = "\n".join(
        [
            HEADER,  # 1
            JORDAN,  # 2
            ",Sam,Nobody,2010-01-01,,,,,,,",  # 3 no child_id
            "100300,Bea,Lamb,14/03/11,,,,,,,",  # 4 bad date (a two-digit year)
            "100301,Cai,Moss,2011-02-30,,,,,,,",  # 5 impossible date
            "100302,Dee,North,,,not-an-email,,,,,",  # 6 bad carer email
            "",  # 7 blank: skipped
            '100303,Eve,Oak,2012-01-01,"Oakview\nHouse",,,,,,',  # 8-9 quoted newline
            "100304,,Pike,2012-01-01,,,Tom,tom@council,,,",  # 10 no first name, bad email
            "100231,Jordan,Again,2011-03-14,,,,,,,",  # 11 duplicate
            "100305,Fay,Quinn,2012-01-01",  # 12 short row
            CHLOE,  # 13
        ]
    )
    parsed = parse_csv(text)
    assert [r.child_id for r in parsed.rows] == ["100231", "100303", "100232"]
    assert [r.line for r in parsed.rows] == [2, 8, 13]
    errors = {e.line: e.reason for e in parsed.errors}
    assert sorted(errors) == [3, 4, 5, 6, 10, 11, 12]
    assert "child_id is empty" in errors[3]
    assert "'14/03/11' has a two-digit year" in errors[4]
    assert "2011-02-30" in errors[5]
    assert "'not-an-email' is not an email address" in errors[6]
    assert "first_name is empty" in errors[10] and "social_worker_email" in errors[10]
    assert "already on line 2" in errors[11]
    assert "has 4 fields but the header has 11" in errors[12]
    # A quoted newline is folded into one space; the row keeps the line it starts on.
    assert parsed.rows[1].placement_name == "Oakview House"


def test_header_is_tolerant_of_bom_case_spaces_and_column_order():
    columns = [c.upper().replace("_", " ") for c in REQUIRED_COLUMNS]
    columns[0] = "  Child ID "
    header = ",".join(reversed(columns)) + ", Placement Type ,Legal Status"
    values = [*reversed(JORDAN.split(",")), "Children's home", "S20"]
    parsed = parse_csv("\ufeff" + header + "\r\n" + ",".join(values) + "\r\n")
    assert parsed.errors == ()
    (row,) = parsed.rows
    assert row.child_id == "100231"
    assert row.placement_type == "Children's home"
    assert row.attributes == {"legal_status": "S20"}
    assert row.iro == Staff("Ruth Okafor", "ruth.okafor@council.example")


def test_carer_emails_are_lowercased_and_deduplicated():
    line = JORDAN.replace(
        "oakview@homes.example;manager@oakview.example",
        " Oakview@Homes.Example ; manager@oakview.example;OAKVIEW@homes.example ",
    )
    (row,) = parse_csv(HEADER + "\n" + line).rows
    assert row.carer_emails == ("oakview@homes.example", "manager@oakview.example")


def test_contradictory_placement_types_reject_the_later_row():
    header = HEADER + ",placement_type"
    text = "\n".join(
        [header, JORDAN + ",Children's home", JORDAN.replace("100231", "100240") + ",Foster home"]
    )
    parsed = parse_csv(text)
    assert [r.child_id for r in parsed.rows] == ["100231"]
    assert parsed.errors[0].line == 3
    assert "contradicts" in parsed.errors[0].reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  \n\n", "empty"),
        (HEADER + "\n", "no rows"),
        (HEADER.replace(",iro_email", "") + "\n" + JORDAN, "missing required column(s): iro_email"),
        ("child_id,Child ID," + HEADER + "\n", "twice"),
        (HEADER + '\n100231,"Jordan,Carter\n', "line 2: not valid CSV"),
        (HEADER + "\n1\x002,a,b,,,,,,,,", "NUL"),
    ],
)
def test_fatal_problems_raise(text, message):
    with pytest.raises(MailbridgeError) as err:
        parse_csv(text)
    assert message in str(err.value)


def test_undecodable_file_is_fatal_and_says_nothing_was_imported(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n" + CHLOE).encode("latin-1"))
    with pytest.raises(MailbridgeError) as err:
        csv_file.read_directory_file(path)
    assert "line 2: the file is not UTF-8" in str(err.value)
    assert "nothing imported" in str(err.value)


# -- applying (both databases) ------------------------------------------------------------


def counts(engine) -> tuple[int, int, int, int]:
    with Session(engine) as s:
        return (
            s.scalar(select(func.count()).select_from(Child)) or 0,
            s.scalar(select(func.count()).select_from(Placement)) or 0,
            s.scalar(select(func.count()).select_from(Allocation)) or 0,
            s.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


def test_import_and_idempotent_reimport(engine):
    first = apply(engine, fixture_text(), T1)
    assert (first.children_added, first.children_updated, first.rows_rejected) == (12, 0, 0)
    assert first.placements_added == 8
    assert first.allocations_changed == 35  # 12 children x 3 roles, less one missing IRO
    before = counts(engine)
    assert before[:3] == (12, 8, 35)

    again = apply(engine, fixture_text(), T2)
    assert again.changes == 0
    assert again.children_unchanged == 12
    assert counts(engine)[:3] == before[:3]
    with Session(engine) as s:
        audits = s.scalars(select(AuditEntry).where(AuditEntry.entity == "directory")).all()
        assert [a.action for a in audits] == ["import", "import"]
        assert audits[0].detail is not None and audits[0].detail["children_added"] == 12
        assert audits[1].detail is not None and audits[1].detail["children_unchanged"] == 12
        jordan = s.get(Child, "100231")
        assert jordan is not None and jordan.updated_at == T1
        oakview = s.scalars(select(Placement).where(Placement.name == "Oakview House")).one()
        assert oakview.placement_type == "Children's home"


def test_good_rows_are_imported_alongside_bad_ones(engine):
    text = "\n".join([HEADER, JORDAN, "100300,Bea,Lamb,31/02/2011,,,,,,,", CHLOE])
    report = apply(engine, text)
    assert report.children_added == 2
    assert report.rejected == (RowError(3, report.rejected[0].reason),)
    with Session(engine) as s:
        assert sorted(s.scalars(select(Child.child_id))) == ["100231", "100232"]


def test_new_social_worker_closes_the_old_allocation_and_keeps_history(engine):
    apply(engine, fixture_text(), T1)
    changed = fixture_text().replace(
        JORDAN, JORDAN.replace("Sam Patel,sam.patel@", "Priya Shah,Priya.Shah@")
    )
    report = apply(engine, changed, T2)
    assert (report.children_updated, report.allocations_changed) == (1, 1)
    with Session(engine) as s:
        now = current_allocations(s, "100231")
        assert now["social_worker"] == {"name": "Priya Shah", "email": "priya.shah@council.example"}
        assert now["iro"] == {"name": "Ruth Okafor", "email": "ruth.okafor@council.example"}
        history = [a for a in allocation_history(s, "100231") if a.role == "social_worker"]
        assert [(a.name, a.valid_from, a.valid_to) for a in history] == [
            ("Sam Patel", T1, T2),
            ("Priya Shah", T2, None),
        ]
        # Mia also had Sam Patel and is untouched.
        assert current_allocations(s, "100234")["social_worker"]["name"] == "Sam Patel"
        jordan = s.get(Child, "100231")
        assert jordan is not None and jordan.updated_at == T2
    assert apply(engine, changed, T3).changes == 0


def test_an_emptied_role_is_closed(engine):
    apply(engine, fixture_text(), T1)
    no_iro = JORDAN.replace("Ruth Okafor,ruth.okafor@council.example", ",")
    report = apply(engine, fixture_text().replace(JORDAN, no_iro), T2)
    assert report.allocations_changed == 1
    with Session(engine) as s:
        assert "iro" not in current_allocations(s, "100231")
        (iro,) = [a for a in allocation_history(s, "100231") if a.role == "iro"]
        assert (iro.valid_from, iro.valid_to) == (T1, T2)
    # Restoring the IRO opens a new allocation; the closed one stays closed.
    apply(engine, fixture_text(), T3)
    with Session(engine) as s:
        iros = [
            (a.valid_from, a.valid_to) for a in allocation_history(s, "100231") if a.role == "iro"
        ]
        assert iros == [(T1, T2), (T3, None)]


def test_child_details_update(engine):
    apply(engine, fixture_text(), T1)
    moved = JORDAN.replace(
        "Oakview House,oakview@homes.example;manager@oakview.example",
        "Birch Road Foster Home,BirchRoad.Carers@fostering.example",
    )
    text = fixture_text().replace(JORDAN + ",Children's home", moved + ",Foster placement")
    report = apply(engine, text, T2)
    assert report.rejected == ()
    assert (report.children_updated, report.allocations_changed, report.placements_added) == (
        1,
        0,
        0,
    )
    with Session(engine) as s:
        (record,) = [c for c in load_snapshot(s) if c.child_id == "100231"]
        assert record.placement_name == "Birch Road Foster Home"
        assert record.placement_type == "Foster placement"
        assert record.carer_emails == ("birchroad.carers@fostering.example",)
        assert children_for_sender(s, "birchroad.carers@fostering.example") == [
            "100231",
            "100237",
        ]


def test_snapshot_and_sender_lookup(engine):
    apply(engine, fixture_text(), T1)
    with Session(engine) as s:
        snapshot = load_snapshot(s)
        assert len(snapshot) == 12
        by_id = {c.child_id: c for c in snapshot}
        assert by_id["100241"].placement_name == "Hillcrest Family Placement"
        assert by_id["100233"].placement_type == "Supported accommodation"
        assert by_id["100232"].first_name == "Chloé"
        assert by_id["100231"].attributes == {"locality": "North"}
        assert children_for_sender(s, "Oakview House <OAKVIEW@homes.example>") == [
            "100231",
            "100240",
        ]
        assert children_for_sender(s, "riverside.carers@fostering.example") == [
            "100232",
            "100250",
        ]
        # 'homes.example' is inside oakview@homes.example, but is not an address there.
        assert children_for_sender(s, "homes.example") == []
        assert children_for_sender(s, "stranger@example.org") == []
        assert current_allocations(s, "nobody") == {}


# -- the command ---------------------------------------------------------------------------


@pytest.fixture
def cli(engine, database_url, tmp_path, monkeypatch):
    """`mailbridge …` against the test database, as an operator would run it."""
    config = tmp_path / "mb.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", database_url)
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(tmp_path / "data"))

    def run(*args: str) -> int:
        return main(["--config", str(config), *args])

    return run


def test_cli_import_and_show(cli, capsys):
    assert cli("directory", "import", str(FIXTURE)) == 0
    out, err = capsys.readouterr()
    assert "12 row(s) imported, 0 rejected" in out
    assert "12 added" in out
    assert err == ""

    assert cli("directory", "import", str(FIXTURE)) == 0
    assert "no changes" in capsys.readouterr().out

    assert cli("directory", "show", "100231") == 0
    out = capsys.readouterr().out
    assert "Jordan Carter (child 100231)" in out
    assert "2011-03-14" in out
    assert "Oakview House (Children's home)" in out
    assert "oakview@homes.example, manager@oakview.example" in out
    assert "Sam Patel <sam.patel@council.example>" in out
    assert "allocation history:" in out

    assert cli("directory", "show", "100233") == 0
    assert "iro            none on record" in capsys.readouterr().out

    assert cli("directory", "show", "100232", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["first_name"] == "Chloé"
    assert data["placement"] == {"name": "Riverside Foster Home", "type": "Foster placement"}
    assert data["current_allocations"]["social_worker"]["email"] == "amy.jones@council.example"
    assert data["current_allocations"]["team_manager"] == {
        "name": None,
        "email": "tm.north@council.example",
    }
    assert {a["role"] for a in data["allocation_history"]} == {
        "social_worker",
        "iro",
        "team_manager",
    }
    assert all(a["valid_to"] is None for a in data["allocation_history"])
    datetime.fromisoformat(data["allocation_history"][0]["valid_from"])


def test_cli_show_history_after_a_change(cli, capsys, tmp_path):
    assert cli("directory", "import", str(FIXTURE)) == 0
    changed = tmp_path / "changed.csv"
    changed.write_text(
        fixture_text().replace("Sam Patel,sam.patel@", "Priya Shah,priya.shah@"), encoding="utf-8"
    )
    assert cli("directory", "import", str(changed)) == 0
    assert "2 updated" in capsys.readouterr().out
    assert cli("directory", "show", "100231", "--json") == 0
    history = json.loads(capsys.readouterr().out)["allocation_history"]
    workers = [(a["name"], a["valid_to"] is None) for a in history if a["role"] == "social_worker"]
    assert workers == [("Sam Patel", False), ("Priya Shah", True)]


def test_cli_unknown_child(cli, capsys):
    assert cli("directory", "show", "999999") == 1
    err = capsys.readouterr().err
    assert "no child with id '999999'" in err
    assert "Traceback" not in err


def test_cli_rejected_rows_go_to_stderr_and_exit_1(cli, capsys, tmp_path):
    path = tmp_path / "some-bad.csv"
    path.write_text(
        "\n".join([HEADER, JORDAN, "100300,Bea,Lamb,31/02/2011,,,,,,,", CHLOE]), encoding="utf-8"
    )
    assert cli("directory", "import", str(path)) == 1
    out, err = capsys.readouterr()
    assert "line 3: date_of_birth '31/02/2011' is not a real date" in err
    assert "2 row(s) imported, 1 rejected" in out
    assert cli("directory", "show", "100232") == 0


def test_cli_fatal_error_applies_nothing(cli, capsys, tmp_path, engine):
    path = tmp_path / "no-iro.csv"
    text = fixture_text().replace(",iro_email", "", 1)
    path.write_text(text, encoding="utf-8")
    assert cli("directory", "import", str(path)) == 1
    err = capsys.readouterr().err
    assert "missing required column(s): iro_email" in err
    assert "nothing imported" in err
    assert counts(engine) == (0, 0, 0, 0)

    assert cli("directory", "import", str(tmp_path / "absent.csv")) == 1
    assert "nothing imported" in capsys.readouterr().err


# -- dates of birth: ISO and UK day-first, as Excel saves them in en-GB ---------------------


def _dob_row(child_id: str, dob: str) -> str:
    return f"{child_id},Bea,Lamb,{dob},,,,,,,"


def test_uk_day_first_dates_are_read_and_bad_ones_refused_by_line(cli, capsys, tmp_path, engine):
    path = tmp_path / "en-gb.csv"
    lines = [
        HEADER,
        _dob_row("300001", "14/03/2012"),  # line 2: plainly day-first
        _dob_row("300002", "2012-03-14"),  # ISO as before
        _dob_row("300003", "05/06/2010"),  # either way round, but the file is day-first
        _dob_row("300004", "31/02/2012"),  # line 5: no such day
        _dob_row("300005", "14/03/12"),  # line 6: two-digit year
        _dob_row("300006", "14/03/2999"),  # line 7: not born yet
        _dob_row("300007", "1/7/2013"),  # line 8: 1 July, the file being day-first
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    assert cli("directory", "import", str(path)) == 1
    out, err = capsys.readouterr()
    assert "4 row(s) imported, 3 rejected" in out
    assert "line 5: date_of_birth '31/02/2012' is not a real date" in err
    assert "line 6: date_of_birth '14/03/12' has a two-digit year" in err
    assert "line 7: date_of_birth '14/03/2999' is in the future" in err
    with Session(engine) as s:
        got = {c.child_id: c.date_of_birth for c in s.scalars(select(Child))}
    assert got["300001"] == date(2012, 3, 14)
    assert got["300002"] == date(2012, 3, 14)
    assert got["300003"] == date(2010, 6, 5)
    assert got["300007"] == date(2013, 7, 1)


def test_a_date_either_way_round_is_refused_without_day_first_evidence(cli, capsys, tmp_path):
    path = tmp_path / "unsure.csv"
    # 03/04/2012 is 3 April in en-GB, 4 March in a US export; 04/14/2011 shows a month-first
    # date is in the file too, so day-first cannot be assumed for either.
    path.write_text(
        "\n".join(
            [
                HEADER,
                _dob_row("300011", "03/04/2012"),
                _dob_row("300012", "14/03/2012"),
                _dob_row("300013", "04/14/2011"),
            ]
        ),
        encoding="utf-8",
    )
    assert cli("directory", "import", str(path)) == 1
    out, err = capsys.readouterr()
    assert "line 2: date_of_birth '03/04/2012' is ambiguous (3 April or 4 March?" in err
    assert "line 4: date_of_birth '04/14/2011' is not a real date" in err
    assert "1 row(s) imported, 2 rejected" in out

    alone = tmp_path / "alone.csv"
    alone.write_text("\n".join([HEADER, _dob_row("300021", "03/04/2012")]), encoding="utf-8")
    assert cli("directory", "import", str(alone)) == 1
    assert "line 2: date_of_birth '03/04/2012' is ambiguous" in capsys.readouterr().err
