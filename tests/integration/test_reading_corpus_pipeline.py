"""Every issue-13 corpus report (tests/fixtures/reports/c13_*, and held-out batches 4 to 41,
c13b4_* to c13b41_*) through `mailbridge inject`. A batch still held out (scored once, its misses
not yet read) is left to the accuracy scorer until its misses are fixed.

Each report goes alone into a fresh database holding tests/fixtures/reports-directory.csv, as a
duty desk would receive it. What must hold is the safety rule, checked against each report's
expected reading (``children`` in its .expected.json), not against what the code prints:

- a child the report says is missing has an open episode, never a returned one;
- a child the report says is back has an episode that is returned, or open and flagged
  needs_confirmation (a sender who may not close, a return with no time from unverified mail);
- a report about no child opens nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email import message_from_bytes
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import BACKENDS, CliRunner, cli_runner, from_template, plain_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPORTS = FIXTURES / "reports"
# the batches whose misses have been read (a batch still held out joins once it is scored)
LAST_BATCH_READ = 47
CORPUS = sorted([*REPORTS.glob("c13_*.eml"),
                 *(p for n in range(4, LAST_BATCH_READ + 1)
                   for p in REPORTS.glob(f"c13b{n}_*.eml"))])


def _spec(path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(path.with_suffix(".expected.json").read_text("utf-8"))
    return spec


def received_at(stem: str) -> datetime:
    path = REPORTS / f"{stem}.eml"
    spec = _spec(path)
    if "received_at" in spec:
        return datetime.fromisoformat(spec["received_at"])
    date = message_from_bytes(path.read_bytes())["Date"]
    return parsedate_to_datetime(str(date)) + timedelta(minutes=2)


COUNCIL_ADDRESSES = ("missingchildren@council.example", "missing@council.example",
                     "missing.children@council.example", "missing@council.example.gov.uk")


@pytest.fixture(params=BACKENDS)
def corpus_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """A database of its own for each report, copied from one migrated and loaded with the
    corpus directory once per worker (`db upgrade` and `directory import`, run for real)."""

    def prepare(url: str) -> None:
        home = tmp_path / "template"
        home.mkdir()
        runner = plain_cli(url, home, monkeypatch, capsys)
        assert runner("db", "upgrade")[0] == 0
        code, _out, err = runner("directory", "import", str(FIXTURES / "reports-directory.csv"))
        assert code == 0, err

    return from_template(str(request.param), tmp_path, "corpus", prepare)


@pytest.fixture
def mailbridge(
    corpus_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliRunner:
    # the corpus's council: the shared addresses its carers write to, and its alerts come from
    monkeypatch.setenv("MAILBRIDGE_ADDRESSES", ",".join(COUNCIL_ADDRESSES))
    return cli_runner(corpus_url, tmp_path, monkeypatch, capsys, received_at)


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 80


# Known gaps, each a failure we keep in sight (strict: fixing one turns its run red until it is
# taken off this list). docs/reading.md, "Known weaknesses".
KNOWN_GAPS = {
    "c13b26_lowther_tilly_neighbour_saw_bus_update": "an update from a carer's husband, from his "
    "own address, naming the child by first name only and outside the episode's thread (no "
    "In-Reply-To): no child matched and no missing words, so it is stored as not a report; in "
    "the thread it would update the episode",
    "c13b9_brooke_back_jordan_emergency_placement_out": "a child not in the directory, named "
    "beside a known child in one email, gets no episode of their own (the known child's episode "
    "is kept open with the conflict for staff to read)",
    # the same gap: a girl placed by another council, named beside our child
    "c13b28_ruddlesden_aaliyah_with_out_of_area_friend": "a child placed by another council, "
    "not in the directory, named beside a known child: no unmatched episode of her own",
    "c13b28_ruddlesden_aaliyah_back_friend_still_out": "a child placed by another council, "
    "not in the directory, still out beside a known child who is back: no unmatched episode",
    "c13b30_gillibrand_tyler_with_respite_boy_other_la": "a boy in respite from another "
    "council, not in the directory, missing beside our child: no unmatched episode of his own",
    "c13b31_nuttgens_keeley_edt_log_two_girls": "a girl not in the directory, still out beside "
    "our child who is back: no unmatched episode of her own",
    "c13b32_bramhall_kacey_edt_handover_three_children": "a boy placed by another council, not "
    "in the directory, in an EDT handover beside our children: no unmatched episode of his own",
    "c13b33_oddie_yardley_wrekin_grange_nights": "a girl from a sister home, not in the "
    "directory, missing beside our children: no unmatched episode of her own",
    # not a safety gap: its writer called an agency's request for phone numbers, sent while the
    # child was out, `info`; it tells no news and is stored as not a report (in the episode's
    # thread it would attach to the episode)
    "c13b40_gaukroger_teigan_contact_numbers_request": "a request for contact numbers while the "
    "child is out: stored as not a report, so no episode in a fresh database",
    # not safety gaps: an agency's question while the child is out (its writer's `info`, stored
    # as not a report), and a sister who was lost with her brother and is back ("Ellie found her
    # own way back to the car ... Ellie is home with us now"), read as where she is, not news:
    # her short absence gets no episode, her brother's is open
    "c13b44_fairclough_elliemay_agency_query_info": "an agency's question while the child is "
    "out: stored as not a report, so no episode in a fresh database",
    "c13b47_quinn_kayla_iro_strategy_question": "a reviewing officer's question while the child "
    "is out: stored as not a report, so no episode in a fresh database",
    "c13b44_howells_rhys_two_children_fireworks": "a sister lost with her brother and back "
    "within the hour, told as 'home with us now': no episode of her own",
    # the safe direction: a false missing, which costs a phone call
    "c13b43_whitaker_callum_college_question_not_report": "a college's question about what to do "
    "if a learner does not turn up for an exam ('we can't reach them', 'counted as \"missing\"'), "
    "naming a learner with no current concern: read as missing, so an episode is opened",
}


def _case(path: Path) -> Any:
    gap = KNOWN_GAPS.get(path.stem)
    marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
    return pytest.param(path, id=path.stem, marks=marks)


@pytest.mark.parametrize("path", [_case(p) for p in CORPUS])
def test_report_through_inject(mailbridge: CliRunner, path: Path) -> None:
    spec = _spec(path)
    code, out, err = mailbridge("inject", str(path))
    assert code == 0, err
    assert "stored 1 message(s)" in out
    [message] = mailbridge.json("messages", "--json")
    assert message["status"] in ("processed", "ignored"), message
    episodes = mailbridge.json("episodes", "--json")
    by_child: dict[str | None, list[dict[str, Any]]] = {}
    for ep in episodes:
        by_child.setdefault(ep["child_id"], []).append(ep)
    want = {c["child_id"]: c["kind"] for c in spec.get("children", [])}
    note = f"{path.stem}: {message['reason']}"
    for child_id, kind in want.items():
        # "?" is a child the directory does not know: an unmatched episode (child_id null)
        eps = by_child.get(None if child_id == "?" else child_id, [])
        if not eps and f"child {child_id}" in spec.get("known_misses", []):
            # a known matching miss (docs/reading.md): the report must still open an episode,
            # unmatched, for the duty desk to link, and the checks below hold for it
            eps = by_child.get(None, [])
        assert len(eps) == 1, f"{note}: child {child_id} has {len(eps)} episodes"
        ep = eps[0]
        if kind == "missing":
            assert ep["status"] == "open", f"{note}: a missing child recorded as {ep['status']}"
        elif kind == "returned":
            assert ep["status"] == "returned" or ep["needs_confirmation"], note
    if "children" in spec and not want:
        assert episodes == [], note
    if spec["kind"] == "not_a_report":
        assert episodes == [], note
