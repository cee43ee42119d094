"""The staff web app over real HTTP (uvicorn on localhost), on SQLite and PostgreSQL: the public
contract, sign-in, sessions, CSRF, who may see what, safe rendering of mail, and the actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.store.models import Acknowledgement, AuditEntry, Child, DueAction, Interview
from tests.support.web import (
    AMY,
    BASE,
    CARER,
    PASSWORD,
    SAM,
    World,
    hidden,
    login,
    post,
    references,
)

REPORT = "Jordan Carter (100231) has not come home since 10:00 this morning."
WHERE = "Missing: Jordan Carter (100231)"


@pytest.fixture
def world(engine: Any, make_settings: Any) -> World:
    return World(engine, make_settings(web_port="0"))


def _audit(world: World, action: str) -> list[AuditEntry]:
    with Session(world.engine) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _audit_all(world: World) -> list[AuditEntry]:
    with Session(world.engine) as s:
        return list(s.scalars(select(AuditEntry)))


def _open_reference(world: World) -> str:
    msg = world.send(REPORT, subject=WHERE)
    assert msg.status == "processed", msg.reason
    with Session(world.engine) as s:
        from mailbridge.store.models import Episode

        return s.scalars(select(Episode.reference)).one()


def _send_unmatched(world: World) -> None:
    """A report from a school naming a child who is in no directory: an unmatched episode."""
    unmatched = world.send(
        "Kayden Smith has run off from school, nobody knows where he is.",
        subject="Missing child",
        sender="teacher@school.example",
    )
    assert unmatched.status == "processed"


def test_the_public_contract(world: World) -> None:
    ref = _open_reference(world)
    _send_unmatched(world)
    world.add_user("duty1", "duty", "duty@council.example")
    with world.web() as base:
        anonymous = httpx.Client(base_url=base, follow_redirects=False)
        gone = anonymous.get("/episodes")
        assert gone.status_code in (302, 303, 307)
        assert gone.headers["location"] == "/login"
        form = anonymous.get("/login")
        assert form.status_code == 200
        assert re.search(r'<input[^>]*name="username"', form.text)
        assert re.search(r'<input[^>]*name="password"[^>]*type="password"|'
                         r'<input[^>]*type="password"[^>]*name="password"', form.text)
        signed = anonymous.post(
            "/login",
            data={"username": "duty1", "password": PASSWORD, "csrf_token": hidden(form.text)},
        )
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert "mb_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        listing = anonymous.get("/episodes")
        assert listing.status_code == 200
        refs = references(listing.text)
        assert ref in refs and len(refs) == 2
        page = anonymous.get(f"/episodes/{ref}")
        assert page.status_code == 200 and ref in page.text
        assert "J.C." in page.text and "Jordan Carter (100231) has not come home" in page.text
        triage = anonymous.get("/triage")
        assert triage.status_code == 200
        (other,) = [r for r in refs if r != ref]
        assert other in references(triage.text.split("Readings to confirm")[0])
        assert anonymous.get("/episodes/MB-1999-00001").status_code == 404
    viewed = _audit(world, "viewed")
    assert [(a.actor, a.entity_id) for a in viewed] == [("duty1", ref)]


def test_a_wrong_password_or_a_sign_in_form_without_its_token_is_refused(world: World) -> None:
    world.add_user("duty1", "duty", "duty@council.example")
    with world.web() as base:
        client = httpx.Client(base_url=base, follow_redirects=False)
        token = hidden(client.get("/login").text)
        wrong = client.post(
            "/login", data={"username": "duty1", "password": "not it", "csrf_token": token}
        )
        assert wrong.status_code == 401 and "mb_session" not in client.cookies
        nobody = client.post(
            "/login", data={"username": "nobody", "password": PASSWORD, "csrf_token": token}
        )
        assert nobody.status_code == 401
        no_token = client.post("/login", data={"username": "duty1", "password": PASSWORD})
        assert no_token.status_code == 403 and "mb_session" not in client.cookies
        forged = client.post(
            "/login",
            data={"username": "duty1", "password": PASSWORD, "csrf_token": "1.2.3"},
        )
        assert forged.status_code == 403
    assert len(_audit(world, "sign_in_failed")) == 2


def test_a_social_worker_sees_only_their_children_and_a_refusal_is_audited(
    world: World,
) -> None:
    ref = _open_reference(world)  # Jordan, 100231: Sam Patel's child
    world.add_user("amy", "social_worker", AMY)
    world.add_user("sam", "social_worker", SAM)
    with world.web() as base:
        amy = login(base, "amy")
        assert references(amy.get("/episodes").text) == []
        refused = amy.get(f"/episodes/{ref}")
        assert refused.status_code == 403
        assert "Jordan" not in refused.text and "100231" not in refused.text
        assert amy.get("/triage").status_code == 403
        ack = post(amy, f"/episodes/{ref}/acknowledge", {}, page="/episodes")
        assert ack.status_code == 403
        sam = login(base, "sam")
        assert references(sam.get("/episodes").text) == [ref]
        assert sam.get(f"/episodes/{ref}").status_code == 200
    denied = _audit(world, "view_denied")
    assert [(a.actor, a.entity_id) for a in denied] == [("amy", ref), ("amy", ref)]
    with Session(world.engine) as s:
        assert s.scalars(select(Acknowledgement)).all() == []


def test_an_idle_or_old_session_sends_the_person_back_to_sign_in(world: World) -> None:
    world.add_user("duty1", "duty", "duty@council.example")
    with world.web() as base:
        client = login(base, "duty1")
        world.clock.advance(minutes=59)
        assert client.get("/episodes").status_code == 200
        world.clock.advance(minutes=61)  # idle longer than web.idle_minutes (60)
        expired = client.get("/episodes/MB-2026-00001")
        assert expired.status_code == 303
        assert expired.headers["location"] == "/login"
        # Signing in again leads back to the page that was asked for.
        again = client.post(
            "/login",
            data={
                "username": "duty1",
                "password": PASSWORD,
                "csrf_token": hidden(client.get("/login").text),
            },
        )
        assert again.headers["location"] == "/episodes/MB-2026-00001"

        client = login(base, "duty1")
        for _ in range(12):  # active all along, but past web.session_hours (12)
            world.clock.advance(minutes=59)
            assert client.get("/episodes").status_code == 200
        world.clock.advance(minutes=15)  # 12 h 3 min after sign-in
        assert client.get("/episodes").status_code == 303


def test_a_form_without_its_csrf_token_changes_nothing(world: World) -> None:
    ref = _open_reference(world)
    world.add_user("duty1", "duty", "duty@council.example")
    with world.web() as base:
        client = login(base, "duty1")
        bare = client.post(f"/episodes/{ref}/acknowledge")
        assert bare.status_code == 403
        other = login(base, "duty1")  # another session's token is not this session's
        wrong = client.post(
            f"/episodes/{ref}/acknowledge",
            data={"csrf_token": hidden(other.get("/episodes").text)},
        )
        assert wrong.status_code == 403
        with Session(world.engine) as s:
            assert s.scalars(select(Acknowledgement)).all() == []
        done = post(client, f"/episodes/{ref}/acknowledge", {}, page=f"/episodes/{ref}")
        assert done.status_code == 303
        assert done.headers["location"] == f"/episodes/{ref}?done=acknowledged"
        page = client.get(f"/episodes/{ref}")
        assert "duty@council.example as duty" in page.text
        assert "Acknowledge: I have this" not in page.text
    with Session(world.engine) as s:
        (ack,) = s.scalars(select(Acknowledgement)).all()
        assert (ack.role, ack.address) == ("duty", "duty@council.example")
        waiting = select(DueAction).where(DueAction.status == "pending")
        pending = {d.kind for d in s.scalars(waiting)}
    assert "escalate_team_manager" not in pending
    assert [(a.actor, a.detail) for a in _audit(world, "acknowledged")] == [
        ("duty1", {"role": "duty", "address": "duty@council.example", "via": "web"})
    ]


def test_the_apprentice_sees_all_but_cannot_acknowledge(world: World) -> None:
    ref = _open_reference(world)
    world.add_user("app", "apprentice", "app@council.example")
    with world.web() as base:
        client = login(base, "app")
        assert references(client.get("/episodes").text) == [ref]
        page = client.get(f"/episodes/{ref}")
        assert page.status_code == 200 and "Acknowledge: I have this" not in page.text
        refused = post(client, f"/episodes/{ref}/acknowledge", {}, page=f"/episodes/{ref}")
        assert refused.status_code == 403
        assert client.get("/users").status_code == 403


def _html_report() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Oakview <{CARER}>"
    msg["To"] = BASE
    msg["Subject"] = WHERE
    msg["Message-ID"] = "<html-report@x>"
    msg["Date"] = format_datetime(__import__("tests.support.web").support.web.T0)
    msg.set_content(REPORT)
    msg.add_alternative(
        "<html><body><p onclick=\"steal()\">Jordan Carter (100231) has not come home.</p>"
        "<script>document.title='pwned'</script>"
        '<img src="https://tracker.example/pixel.gif?u=1" alt="">'
        '<a href="javascript:alert(1)">click</a>'
        '<a href="https://police.example/report">police</a></body></html>',
        subtype="html",
    )
    msg.add_attachment(
        b"%PDF-1.4 risk assessment", maintype="application", subtype="pdf",
        filename="risk assessment.pdf",
    )
    return msg.as_bytes()


def test_an_email_is_shown_sanitised_and_its_attachment_downloads(world: World) -> None:
    stored = world.send_raw(_html_report())
    assert stored.status == "processed", stored.reason
    world.add_user("duty1", "duty", "duty@council.example")
    with world.web() as base:
        client = login(base, "duty1")
        (ref,) = references(client.get("/episodes").text)
        page = client.get(f"/episodes/{ref}")
        assert "Jordan Carter (100231) has not come home." in page.text
        body = page.text.split("<h2>Emails</h2>")[1]
        assert "<script" not in body and "pwned" not in body
        assert "tracker.example" not in body and "<img" not in body
        assert "onclick" not in body and "javascript:" not in body
        assert 'href="https://police.example/report"' in body
        assert "1 image(s) not shown" in body
        assert "default-src 'self'" in page.headers["content-security-policy"]
        link = re.search(r'href="(/episodes/[^"]+/attachments/\d+)"', body)
        assert link, body
        download = client.get(link.group(1))
        assert download.status_code == 200
        assert download.content == b"%PDF-1.4 risk assessment"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.headers["content-type"] == "application/octet-stream"
    assert [a.detail for a in _audit(world, "downloaded")] == [
        {"message": stored.id, "attachment": 0}
    ]


def test_the_interview_outcome_is_recorded_online_by_the_emailed_form_rules(
    world: World,
) -> None:
    ref = _open_reference(world)
    world.clock.advance(hours=5)
    back = world.send(
        "Jordan Carter (100231) came home at 15:30, safe and well.",
        subject="Jordan (100231) is back",
    )
    assert back.status == "processed"
    world.add_user("sam", "social_worker", SAM)
    world.clock.advance(hours=20)
    with world.web() as base:
        client = login(base, "sam")
        due = client.get("/interviews").text
        assert ref in due.split("Done in the last month")[0]
        partial = post(
            client,
            f"/episodes/{ref}/interview",
            {"result": "completed", "held_on": "27/11/2026", "interviewer": "Sam Patel"},
            page=f"/episodes/{ref}",
        )
        assert partial.status_code == 400
        assert "reasons, risks identified, actions agreed" in partial.text
        with Session(world.engine) as s:
            assert s.scalars(select(Interview)).one().status == "due"
        whole = client.post(
            f"/episodes/{ref}/interview",
            data={
                "csrf_token": hidden(partial.text),
                "result": "completed",
                "held_on": "27/11/2026",
                "interviewer": "Sam Patel",
                "reasons": ["Friends", "Substance use"],
                "risks": "older peers at the station",
                "actions": "safety plan with carers",
            },
        )
        assert whole.status_code == 303, whole.text
        done = client.get("/interviews").text
        assert ref in done.split("Done in the last month")[1]
    with Session(world.engine) as s:
        interview = s.scalars(select(Interview)).one()
    assert interview.status == "completed" and interview.interviewer == "Sam Patel"
    assert interview.reason_codes == ["friends", "substance_use"]


def test_the_now_page_puts_high_risk_first_then_the_longest_missing(world: World) -> None:
    world.send(REPORT, subject=WHERE)  # Jordan, risk not given
    world.clock.advance(minutes=30)
    world.send(
        "Chloé Dubois (100232) has not come back from college. Risk: low.",
        subject="Chloé Dubois (100232) missing",
        sender="riverside.carers@fostering.example",
    )
    world.clock.advance(minutes=30)
    world.send(
        "Tyler Hughes (100233) is missing. Risk level: high.",
        subject="Tyler Hughes (100233) missing",
        sender="keyworkers@maplecourt.example",
    )
    world.add_user("duty1", "duty", "duty@council.example")
    with world.web() as base:
        client = login(base, "duty1")
        html = client.get("/episodes").text
        fragment = client.get("/episodes?fragment=1").text
    rows = references(html)
    children = re.findall(r'<span class="hint">(\d{6})</span>', html)
    risks = re.findall(r'class="tag tag-risk-[a-z]+">([^<]+)<', html)
    # A risk not yet assessed counts as high (the safe state); then the longest missing first.
    assert list(zip(children, risks, strict=True)) == [
        ("100231", "Not assessed"),  # missing since 10:00
        ("100233", "High"),  # since 12:00
        ("100232", "Low"),
    ]
    assert "<html" not in fragment and references(fragment) == rows


def test_the_now_page_poll_gets_304_only_while_its_table_is_unchanged(world: World) -> None:
    ref = _open_reference(world)
    world.add_user("duty1", "duty", "duty@council.example")
    with world.web() as base:
        client = login(base, "duty1")
        first = client.get("/episodes?fragment=1")
        etag = first.headers["etag"]
        same = client.get("/episodes?fragment=1", headers={"If-None-Match": etag})
        assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
        assert same.headers["cache-control"] == "no-store"  # still never stored by the browser
        page = client.get("/episodes", headers={"If-None-Match": etag})
        assert page.status_code == 200 and references(page.text) == [ref]  # the page is whole

        # "Missing for" moves with the clock: a new table, a new tag.
        world.clock.advance(minutes=1)
        moved = client.get("/episodes?fragment=1", headers={"If-None-Match": etag})
        assert moved.status_code == 200 and moved.headers["etag"] != etag
        assert references(moved.text) == [ref] and moved.text != first.text

        # An acknowledgement, with the clock standing still, changes the table too.
        etag = moved.headers["etag"]
        assert "Not acknowledged" in moved.text
        post(client, f"/episodes/{ref}/acknowledge", {}, page=f"/episodes/{ref}")
        acked = client.get("/episodes?fragment=1", headers={"If-None-Match": etag})
        assert acked.status_code == 200 and acked.headers["etag"] != etag
        assert "Not acknowledged" not in acked.text and "duty@council.example" in acked.text


def test_the_directory_upload_shows_a_preview_and_changes_nothing_until_applied(
    world: World,
) -> None:
    world.add_user("admin", "admin", "admin@council.example")
    csv_text = (
        "child_id,first_name,last_name,date_of_birth,placement_name,carer_emails,"
        "social_worker_name,social_worker_email,iro_name,iro_email,team_manager_email\n"
        "100231,Jordan,Carter,2011-03-14,Oakview House,oakview@homes.example,"
        "Amy Jones,amy.jones@council.example,Ruth Okafor,ruth.okafor@council.example,"
        "tm.north@council.example\n"
        "100299,Nia,Brown,2012-05-01,Elm Lodge,elm@homes.example,Sam Patel,"
        "sam.patel@council.example,,,tm.north@council.example\n"
    )
    with world.web() as base:
        client = login(base, "admin")
        token = hidden(client.get("/directory").text)
        preview = client.post(
            "/directory/upload",
            data={"csrf_token": token},
            files={"file": ("dir.csv", csv_text.encode(), "text/csv")},
        )
        assert preview.status_code == 200
        assert "1 child(ren) added: 100299" in preview.text
        assert "1 child(ren) updated: 100231" in preview.text
        assert "Nothing has been changed yet." in preview.text
        with Session(world.engine) as s:
            assert s.get(Child, "100299") is None
        applied = client.post(
            "/directory/upload",
            data={
                "csrf_token": token,
                "apply": "yes",
                "csv_text": hidden(preview.text, "csv_text"),
            },
        )
        assert applied.status_code == 200 and "Directory updated: 1 added" in applied.text
        found = post(client, "/directory", {"q": "nia"}, page="/directory")
        assert "100299" in found.text and "Elm Lodge" in found.text
    with Session(world.engine) as s:
        assert s.get(Child, "100299") is not None
    assert [a.actor for a in _audit(world, "import")] == ["test", "admin"]


def test_the_audit_page_filters_by_who_and_record(world: World) -> None:
    ref = _open_reference(world)
    world.add_user("duty1", "duty", "duty@council.example")
    world.add_user("boss", "manager", "boss@council.example")
    with world.web() as base:
        login(base, "duty1").get(f"/episodes/{ref}")
        client = login(base, "boss")
        page = client.get("/audit", params={"actor": "duty1", "ref": ref, "action": "viewed"})
        assert page.status_code == 200
        rows = re.findall(r"<tr><td>.*?</tr>", page.text, re.S)
        assert len(rows) == 1 and "duty1" in rows[0] and ref in rows[0]
        none = client.get("/audit", params={"actor": "nobody"})
        assert re.findall(r"<tr><td>.*?</tr>", none.text, re.S) == []


def test_sign_out_ends_the_session(world: World) -> None:
    world.add_user("duty1", "duty", "duty@council.example")
    with world.web() as base:
        client = login(base, "duty1")
        cookie = client.cookies["mb_session"]
        out = post(client, "/logout", {}, page="/episodes")
        assert out.status_code == 303
        stale = httpx.Client(base_url=base, follow_redirects=False)
        stale.cookies.set("mb_session", cookie)
        assert stale.get("/episodes").status_code == 303


def test_users_add_reads_the_password_from_stdin(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import io

    from tests.support.env import plain_cli

    cli = plain_cli(database_url, tmp_path, monkeypatch, capsys)
    assert cli("db", "upgrade")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, out, err = cli(
        "users", "add", "dana", "--role", "duty", "--email", "Dana@Council.example"
    )
    assert code == 0, err
    assert "added dana (duty)" in out
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, _, err = cli("users", "add", "dana", "--role", "duty")
    assert code == 1 and "already exists" in err
    code, _, err = cli("users", "add", "sw", "--role", "social_worker", "--no-password")
    assert code == 1 and "--email" in err
    code, out, err = cli("users", "totp", "dana")
    assert code == 0, err
    assert "otpauth://totp/mailbridge:dana?secret=" in out
    code, out, _ = cli("users", "totp", "dana", "--off")
    assert code == 0 and "without a code" in out
    listed = cli.json("users", "list", "--json")
    assert [(u["username"], u["role"], u["email"], u["password"]) for u in listed] == [
        ("dana", "duty", "dana@council.example", True)
    ]


def test_triage_lists_mail_that_was_not_a_report_and_sends_it_round_again(
    world: World,
) -> None:
    other = world.send(
        "Hello, could you send me the minutes of Tuesday's meeting? Thanks, Pat",
        subject="Minutes",
        sender="pat@partner.example",
    )
    # An unknown sender's non-report waits on the triage list (issue 19), unalerted.
    assert other.status == "ignored" and (other.reason or "").startswith("triage: not a report")
    world.add_user("duty1", "duty", "duty@council.example")
    world.add_user("app", "apprentice", "app@council.example")
    with world.web() as base:
        apprentice = login(base, "app")
        page = apprentice.get("/triage").text
        assert "pat@partner.example" in page and "Reprocess" not in page
        refused = post(apprentice, f"/messages/{other.id}/reprocess", {}, page="/triage")
        assert refused.status_code == 403
        duty = login(base, "duty1")
        again = post(duty, f"/messages/{other.id}/reprocess", {}, page="/triage")
        assert again.status_code == 303
        assert f"Message {other.id} is queued" in duty.get(again.headers["location"]).text
    with Session(world.engine) as s:
        from mailbridge.store.models import InboundMessage

        assert s.get_one(InboundMessage, other.id).status == "pending"
    assert [(a.actor, a.entity_id) for a in _audit(world, "reprocess")] == [
        ("duty1", str(other.id))
    ]


def test_an_account_with_totp_needs_its_code_as_well(world: World) -> None:
    import pyotp

    from mailbridge.store import accounts
    from mailbridge.web import auth

    world.add_user("duty1", "duty", "duty@council.example")
    secret = auth.new_totp_secret()
    with Session(world.engine) as s, s.begin():
        accounts.set_totp(s, "duty1", secret, world.clock())
    code = pyotp.TOTP(secret)
    with world.web() as base:
        client = httpx.Client(base_url=base, follow_redirects=False)
        first = client.post(
            "/login",
            data={
                "username": "duty1",
                "password": PASSWORD,
                "csrf_token": hidden(client.get("/login").text),
            },
        )
        assert first.status_code == 200 and 'name="code"' in first.text
        assert "mb_session" not in client.cookies

        def step(answer: str, page: str) -> httpx.Response:
            return client.post(
                "/login/code",
                data={
                    "csrf_token": hidden(page),
                    "pending": hidden(page, "pending"),
                    "code": answer,
                },
            )

        stale = code.at(world.clock().timestamp() - 600)  # ten minutes old
        wrong = step(stale, first.text)
        assert wrong.status_code == 401 and "mb_session" not in client.cookies
        forged = client.post(
            "/login/code",
            data={
                "csrf_token": hidden(first.text),
                "pending": "1.2.3",
                "code": code.at(world.clock()),
            },
        )
        assert forged.status_code == 403 and "mb_session" not in client.cookies
        right = step(code.at(world.clock()), wrong.text)
        assert right.status_code == 303 and "mb_session" in client.cookies
        assert client.get("/episodes").status_code == 200
    assert [a.detail for a in _audit(world, "sign_in_failed")] == [{"step": "totp"}]
    assert [a.detail for a in _audit(world, "signed_in")] == [{"method": "password+totp"}]


def test_casework_from_the_episode_page_by_role(world: World) -> None:
    unmatched = world.send(
        "Our lad J has not come back tonight, we don't know where he is.",
        subject="Missing",
        sender=CARER,
    )
    assert unmatched.status == "processed"
    world.add_user("duty1", "duty", "duty@council.example")
    world.add_user("app", "apprentice", "app@council.example")
    with world.web() as base:
        duty = login(base, "duty1")
        (ref,) = references(duty.get("/triage").text.split("Readings to confirm")[0])
        page = duty.get(f"/episodes/{ref}").text
        assert "Link to a child" in page and "Void: this was not a missing episode" in page
        bad = post(duty, f"/episodes/{ref}/casework/link", {"child_id": "999999"},
                   page=f"/episodes/{ref}")
        assert bad.status_code == 409  # no such child: refused with its reason, nothing changed
        linked = post(duty, f"/episodes/{ref}/casework/link",
                      {"child_id": "100231", "note": "the carer rang: it is Jordan"},
                      page=f"/episodes/{ref}")
        assert linked.status_code == 303, linked.text
        shown = duty.get(linked.headers["location"]).text
        assert "Done: link" in shown and "J.C. (100231)" in shown
        assert "the carer rang: it is Jordan" in shown

        apprentice = login(base, "app")
        page = apprentice.get(f"/episodes/{ref}").text
        assert "Correct the facts" in page and "Void:" not in page
        refused = post(apprentice, f"/episodes/{ref}/casework/void",
                       {"reason": "test"}, page=f"/episodes/{ref}")
        assert refused.status_code == 403
        fixed = post(apprentice, f"/episodes/{ref}/casework/correct",
                     {"risk_level": "high", "police_reference": "CAD 1234 26/11",
                      "note": "from the police call"}, page=f"/episodes/{ref}")
        assert fixed.status_code == 303, fixed.text
        no_token = apprentice.post(f"/episodes/{ref}/casework/correct", data={"risk_level": "low"})
        assert no_token.status_code == 403
    with Session(world.engine) as s:
        from mailbridge.store.models import Episode, EpisodeChange

        ep = s.scalars(select(Episode).where(Episode.reference == ref)).one()
        assert (ep.child_id, ep.risk_level, ep.police_reference) == (
            "100231", "high", "CAD 1234 26/11"
        )
        changes = {(c.operation, c.field, c.actor, c.source)
                   for c in s.scalars(select(EpisodeChange))}
    assert ("correct", "risk_level", "app", "web") in changes
    assert any(op == "link" and who == "duty1" for op, _, who, _ in changes)


def test_casework_from_triage_confirm_returned_and_refusals_on_the_page(world: World) -> None:
    ref = _open_reference(world)  # Jordan, 100231, last seen 10:00 (T0 is 11:00 UK time)
    world.clock.advance(hours=2)
    claim = world.send(
        "Jordan is back, walked in at 12:30.",
        subject=f"Re: {ref}",
        sender="someone@elsewhere.example",
    )
    assert claim.status == "processed"
    _send_unmatched(world)
    world.add_user("duty1", "duty", "duty@council.example")
    world.add_user("app", "apprentice", "app@council.example")
    world.add_user("amy", "social_worker", AMY)
    world.add_user("sam", "social_worker", SAM)
    with world.web() as base:
        apprentice = login(base, "app")
        triage = apprentice.get("/triage").text
        unmatched_part, confirm_part = triage.split("Readings to confirm")
        (other,) = references(unmatched_part)
        assert other != ref and ref in references(confirm_part.split("Not a report")[0])
        assert f'action="/episodes/{ref}/casework/confirm"' in triage
        assert f'action="/episodes/{other}/casework/link"' not in triage  # not the apprentice's
        confirmed = post(apprentice, f"/episodes/{ref}/casework/confirm", {}, page="/triage")
        assert confirmed.status_code == 303, confirmed.text
        assert confirmed.headers["location"] == f"/episodes/{ref}?done=confirm"
        assert "Done: confirm" in apprentice.get(confirmed.headers["location"]).text

        duty = login(base, "duty1")
        triage = duty.get("/triage").text
        assert f'action="/episodes/{other}/casework/link"' in triage
        assert 'role="search"' in triage and 'action="/directory"' in triage
        linked = post(
            duty, f"/episodes/{other}/casework/link", {"child_id": "100234"}, page="/triage"
        )
        assert linked.status_code == 303, linked.text
        assert other not in references(duty.get("/triage").text.split("Readings to confirm")[0])

        future = post(duty, f"/episodes/{ref}/casework/returned", {"at": "2026-11-26T14:00"},
                      page=f"/episodes/{ref}")
        assert future.status_code == 409
        assert 'role="alert"' in future.text and "is in the future" in future.text
        assert f'href="/episodes/{ref}"' in future.text
        back = post(duty, f"/episodes/{ref}/casework/returned",
                    {"at": "2026-11-26T12:30", "note": "the home rang to confirm"},
                    page=f"/episodes/{ref}")
        assert back.status_code == 303, back.text
        shown = duty.get(back.headers["location"]).text
        assert "Done: returned" in shown and "the home rang to confirm" in shown
        again = post(duty, f"/episodes/{ref}/casework/returned", {"at": "2026-11-26T12:30"},
                     page=f"/episodes/{ref}")
        assert again.status_code == 409 and 'role="alert"' in again.text

        amy = login(base, "amy")  # not Jordan's social worker
        assert post(amy, f"/episodes/{ref}/casework/correct", {"police_reference": "X 1"},
                    page="/episodes").status_code == 403
        sam = login(base, "sam")  # Jordan's social worker
        assert post(sam, f"/episodes/{ref}/casework/correct", {"police_reference": "CAD 77"},
                    page=f"/episodes/{ref}").status_code == 303
    with Session(world.engine) as s:
        from mailbridge.store.models import Episode, EpisodeChange

        ep = s.scalars(select(Episode).where(Episode.reference == ref)).one()
        assert ep.status == "returned" and not ep.needs_confirmation
        assert ep.police_reference == "CAD 77"
        assert ep.returned_at is not None  # 12:30 UK time in November is 12:30 UTC
        stored = ep.returned_at if ep.returned_at.tzinfo else ep.returned_at.replace(tzinfo=UTC)
        assert stored == datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
        linked_ep = s.scalars(select(Episode).where(Episode.reference == other)).one()
        assert linked_ep.child_id == "100234" and linked_ep.status == "open"
        changes = {
            (c.operation, c.actor, c.source) for c in s.scalars(select(EpisodeChange))
        }
    assert {("confirm", "app", "web"), ("link", "duty1", "web"), ("returned", "duty1", "web"),
            ("correct", "sam", "web")} <= changes
    audited = {(a.action, a.actor, a.entity_id) for a in _audit_all(world)}
    assert {("casework_confirm", "app", ref), ("casework_link", "duty1", other),
            ("casework_returned", "duty1", ref), ("casework_correct", "sam", ref)} <= audited
    assert ("view_denied", "amy", ref) in audited
