"""Who may do what in the staff web app (issue 16), over real HTTP on SQLite and PostgreSQL:
each refusal is a 403 that changes nothing and leaves an audit line saying who tried what.

The rules: social workers see and act on their own children's episodes only; the apprentice sees
all and corrects facts, but does not void (nor acknowledge); admin manages users and the
directory, and nobody else does.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.store.models import Acknowledgement, Child, Episode
from tests.support.web import AMY, FIXTURES, SAM, World, audited, login, post

DENIALS = ("view_denied", "role_denied", "csrf_refused")
CARERS = {"100231": "oakview@homes.example", "100232": "riverside.carers@fostering.example"}


@pytest.fixture
def world(engine: Any, make_settings: Any) -> World:
    return World(engine, make_settings(web_port="0"))


def _report(world: World, name: str, child_id: str) -> str:
    msg = world.send(
        f"{name} ({child_id}) has not come home since 10:00 this morning.",
        subject=f"Missing: {name} ({child_id})",
        sender=CARERS[child_id],
    )
    assert msg.status == "processed", msg.reason
    with Session(world.engine) as s:
        return s.scalars(select(Episode.reference).where(Episode.child_id == child_id)).one()


def test_every_refusal_is_a_403_that_changes_nothing_and_is_audited(world: World) -> None:
    jordan = _report(world, "Jordan Carter", "100231")  # Sam Patel's child
    chloe = _report(world, "Chloé Dubois", "100232")  # Amy Jones's child
    world.add_user("amy", "social_worker", AMY)
    world.add_user("sam", "social_worker", SAM)
    world.add_user("app", "apprentice", "app@council.example")
    world.add_user("mgr", "manager", "mgr@council.example")
    world.add_user("adm", "admin", "adm@council.example")
    with world.web() as base:
        amy, sam, app, mgr, adm = (login(base, n) for n in ("amy", "sam", "app", "mgr", "adm"))
        fixture = (FIXTURES / "directory.csv").read_text("utf-8")
        csv = fixture + "100299,New,Child,2012-01-01,Oakview House,x@homes.example,Sam Patel," \
            "sam.patel@council.example,,,tm.north@council.example,Children's home,North\n"
        refusals = [
            # a social worker opening, or acting on, another worker's child
            ("amy", amy.get(f"/episodes/{jordan}")),
            ("amy", post(amy, f"/episodes/{jordan}/acknowledge", {}, page="/episodes")),
            ("amy", amy.get("/triage")),
            ("sam", post(sam, f"/episodes/{jordan}/casework/merge", {"into": chloe},
                         page=f"/episodes/{jordan}")),
            ("sam", post(sam, f"/episodes/{jordan}/casework/link", {"child_id": "100232"},
                         page=f"/episodes/{jordan}")),
            # the apprentice corrects, but does not void or acknowledge, nor manage users
            ("app", post(app, f"/episodes/{jordan}/casework/void", {"reason": "test"},
                         page=f"/episodes/{jordan}")),
            ("app", post(app, f"/episodes/{jordan}/acknowledge", {}, page=f"/episodes/{jordan}")),
            ("app", app.get("/users")),
            # only admin manages users and the directory
            ("mgr", mgr.get("/users")),
            ("mgr", post(mgr, "/directory/upload", {"csv_text": csv, "apply": "yes"},
                         page="/directory")),
            # admin manages; it does not do casework or acknowledge
            ("adm", post(adm, f"/episodes/{jordan}/casework/correct", {"risk_level": "low"},
                         page=f"/episodes/{jordan}")),
            ("adm", post(adm, f"/episodes/{jordan}/acknowledge", {}, page=f"/episodes/{jordan}")),
            # a form without its CSRF token
            ("mgr", mgr.post(f"/episodes/{jordan}/casework/void", data={"reason": "x"})),
        ]
        for who, response in refusals:
            assert response.status_code == 403, (who, response.request.url, response.text[:200])
            assert "Jordan" not in response.text and "100231" not in response.text
        # what is allowed still is: the admin uploads, the apprentice corrects
        assert post(adm, "/directory/upload", {"csv_text": csv}, page="/directory").status_code \
            == 200
        bad = post(adm, "/directory/upload", {"csv_text": "child_id\n1\n"}, page="/directory")
        assert bad.status_code == 400 and "missing required column" in bad.text
        fixed = post(app, f"/episodes/{jordan}/casework/correct",
                     {"police_reference": "CAD 5"}, page=f"/episodes/{jordan}")
        assert fixed.status_code == 303, fixed.text

    lines = audited(world.engine, *DENIALS)
    assert [(a, who, entity, ident) for a, who, entity, ident, _ in lines] == [
        ("view_denied", "amy", "episode", jordan),
        ("view_denied", "amy", "episode", jordan),
        ("role_denied", "amy", "page", "/triage"),
        ("view_denied", "sam", "episode", chloe),
        ("view_denied", "sam", "episode", jordan),
        ("role_denied", "app", "episode", jordan),
        ("role_denied", "app", "episode", jordan),
        ("role_denied", "app", "page", "/users"),
        ("role_denied", "mgr", "page", "/users"),
        ("role_denied", "mgr", "page", "/directory/upload"),
        ("role_denied", "adm", "episode", jordan),
        ("role_denied", "adm", "episode", jordan),
        ("csrf_refused", "mgr", "episode", jordan),
    ]
    details = [d for *_, d in lines]
    assert details[0] == {"role": "social_worker", "what": "view"}
    assert details[1] == {"role": "social_worker", "what": "acknowledge"}
    assert details[3] == {"role": "social_worker", "what": "merge into"}
    assert details[4] == {"role": "social_worker", "what": "link to another child"}
    assert details[5] == {"role": "apprentice", "what": "void"}
    with Session(world.engine) as s:
        assert s.scalars(select(Acknowledgement)).all() == []
        statuses = {r: st for r, st in s.execute(select(Episode.reference, Episode.status))}
        child = s.scalars(select(Episode.child_id).where(Episode.reference == jordan)).one()
        new_child = s.get(Child, "100299")
    assert statuses == {jordan: "open", chloe: "open"} and child == "100231"
    assert new_child is None  # the manager's upload was refused; the admin's was a preview
