"""Matching a report to a child: order of trust, accents, and never confusing two children."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from mailbridge.reading.fields import ReportFields
from mailbridge.reading.match import fold, match_child, may_name, named_candidates, shared_domains
from tests.support.carer_mail import DirectoryRow

C = DirectoryRow  # a directory child as the reader sees one


KIDS = [
    C("100231", "Jordan", "Carter", date(2011, 3, 14), "Oakview House", ("oakview@homes.example",)),
    C("100232", "Chloé", "Dubois", date(2009, 7, 2), "Riverside", ("riverside@fostering.example",)),
    C("100240", "Alex", "Morgan", date(2010, 1, 20), "Oakview House", ("oakview@homes.example",)),
    C("100241", "Alex", "Smith", date(2012, 5, 5), "Hillcrest", ("hillcrest@fostering.example",)),
    C("100242", "Sam", "Lee", date(2012, 5, 5), "Oakview House", ("oakview@homes.example",)),
    C("100243", "Sam", "Lee", date(2013, 6, 6), "Hillcrest", ("hillcrest@fostering.example",)),
]


def m(text="", subject="", sender=None, **fields):
    return match_child(
        subject=subject, text=text, fields=ReportFields(**fields), sender=sender, children=KIDS
    )


def test_fold_ignores_accents_and_case():
    assert fold("Chloé  DUBOIS") == "chloe dubois"
    assert fold("Zoë") == fold("zoe")


def test_child_id_anywhere_is_most_trusted():
    r = m(subject="Missing: J.C. (100231)")
    assert (r.child_id, r.method, r.confidence) == ("100231", "child_id", 1.0)
    assert m(text="child ID 100232 not back").child_id == "100232"


def test_two_ids_are_ambiguous():
    r = m(text="100231 and 100232 left together")
    assert r.child_id is None and r.method == "ambiguous"


def test_id_and_name_of_different_children_disagree():
    r = m(text="Chloe Dubois has gone, id 100231")
    assert r.child_id is None and r.method == "ambiguous"


def test_id_of_a_child_other_than_the_one_named_is_not_trusted():
    # "Tyler Brooks (ID 100240)": 100240 is Alex Morgan, and no Tyler Brooks is on record
    r = m(text="Tyler Brooks (ID 100240) has not come back", full_name="Tyler Brooks")
    assert r.child_id is None and r.method == "ambiguous"
    # the ID's child is named, if only by first name: the ID stands
    r = m(text="Alex (100240) missing, Dave Hill's phone is off", full_name="Dave Hill")
    assert r.child_id == "100240"
    assert m(text="Alex Morgan 100240 missing", full_name="Alex Morgan").child_id == "100240"


def test_full_name_with_and_without_accents():
    assert m(text="chloe dubois has not come home").child_id == "100232"
    assert m(text="CHLOÉ DUBOIS missing").method == "full_name"


def test_name_plus_dob_separates_namesakes():
    r = m(text="Sam Lee missing", date_of_birth=date(2013, 6, 6))
    assert (r.child_id, r.method) == ("100243", "name_dob")
    assert m(text="Sam Lee missing").method == "ambiguous"
    assert m(text="Sam Lee missing", date_of_birth=date(2000, 1, 1)).child_id is None


def test_first_name_plus_sender_placement():
    r = m(text="Alex has gone out and not come back", sender="hillcrest@fostering.example")
    assert (r.child_id, r.method) == ("100241", "first_name_placement")
    r = m(text="Alex has gone", sender="OAKVIEW@homes.example")
    assert r.child_id == "100240"


def test_two_alexes_are_never_confused_without_a_known_sender():
    assert m(text="Alex has gone").child_id is None
    assert m(text="Alex has gone", sender="stranger@example.com").child_id is None


def test_first_name_at_placement_with_two_named_children_is_ambiguous():
    r = m(text="Jordan and Alex went out together", sender="oakview@homes.example")
    assert r.child_id is None and r.method == "ambiguous"


def test_unknown_child_at_unknown_home():
    r = m(text="Kieran has run off again", sender="new.home@example.org")
    assert (r.child_id, r.method) == (None, "none")


# -- the directory's word index finds exactly the children a subset test over all would -------

_NAMES = ["Alex", "Sam", "Lee", "Mary Jane", "Kacey-Leigh", "Jo", "O'Brien", "Zoë", "KJ", "Ann"]


@dataclass(frozen=True)
class _KnownAs(DirectoryRow):
    known_as: tuple[str, ...] = ()


_children = st.lists(
    st.builds(
        lambda i, first, last, known, home: _KnownAs(
            f"9{i:05d}", first, last, None, home, (f"{home.lower()}@x.example",), tuple(known)),
        st.integers(0, 99_999), st.sampled_from(_NAMES), st.sampled_from(_NAMES),
        st.lists(st.sampled_from(_NAMES), max_size=2), st.sampled_from(["Oak", "Elm", "Ash"]),
    ),
    max_size=12,
)


@given(_children, st.sets(st.sampled_from([fold(w) for n in _NAMES for w in n.split()]
                                         + ["kacey-leigh", "o'brien", "other"])))
def test_the_word_index_finds_what_a_test_of_every_child_finds(children, words):
    words = frozenset(words)
    for alone in (False, True):
        assert named_candidates(children, words, given=alone) == [
            c for c in children if may_name(c, words, given=alone)]


def test_two_directories_of_one_size_never_share_an_index():
    one = [C("1", "Alex", "Morgan", None, "Oak", ("oak@x.example",))]
    two = [C("2", "Sam", "Lee", None, "Elm", ("shared@y.example",)),
           C("3", "Jo", "Lee", None, "Ash", ("shared@y.example",))]
    words = frozenset({"alex", "morgan", "sam", "lee"})
    assert [c.child_id for c in named_candidates(one, words)] == ["1"]
    assert [c.child_id for c in named_candidates(two[:1], words)] == ["2"]
    assert shared_domains(one) == frozenset() and shared_domains(two) == {"y.example"}
