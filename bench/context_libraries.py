"""Measure negspacy (NegEx on a blank spaCy English pipeline) and pysbd against reading/context.py.

Not part of the test suite and not a dependency: it needs `pip install negspacy pysbd` in a
scratch environment with mailbridge importable (PYTHONPATH=.). It reads every report fixture,
decides missing / returned / neither from the carer's words with each approach, and counts
kinds right, and unsafe errors (a child still missing read as returned), against the
fixtures' expected kind. Results are in docs/reading.md ("Context rules: libraries measured").

    PYTHONPATH=. /tmp/evalvenv/bin/python bench/context_libraries.py [b2]
"""

from __future__ import annotations

import json
import sys

import pysbd
import spacy
from negspacy.negation import Negex  # noqa: F401  (registers the "negex" factory)
from negspacy.termsets import termset

from mailbridge.reading import classify, extract_fields, read_message
from mailbridge.reading.context import clauses
from mailbridge.reading.form import without_form_furniture
from tests.support.reading_accuracy import FIXTURES, LONDON, received_for

RETURN_TERMS = ["come back", "came back", "come home", "came home", "is back", "are back",
                "'s back", "walked in", "turned up", "returned", "home safe", "found",
                "located", "brought back", "dropped home", "dropped back", "back home",
                "got back", "got home", "safe and well", "came in"]
MISSING_TERMS = ["missing", "absconded", "awol", "ran away", "ran off", "run off",
                 "not back", "still out", "no sign", "gone", "left"]


def _pipeline() -> spacy.language.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler")
    patterns = [{"label": "RETURN", "pattern": [{"LOWER": w} for w in t.split()]}
                for t in RETURN_TERMS]
    patterns += [{"label": "MISSING", "pattern": [{"LOWER": w} for w in t.split()]}
                 for t in MISSING_TERMS]
    ruler.add_patterns(patterns)
    ts = termset("en_clinical")
    ts.add_patterns({"preceding_negations": ["hasn't", "hasnt", "has not", "not yet", "never",
                                              "due", "meant to be", "supposed to be",
                                              "should have", "would", "if", "when", "until"]})
    nlp.add_pipe("negex", config={"ent_types": ["RETURN", "MISSING"],
                                  "neg_termset": ts.get_patterns()})
    return nlp


def negspacy_kind(nlp: spacy.language.Language, text: str, splitter: str) -> str:
    """returned if any un-negated return entity, missing if any missing entity or negated return."""
    if splitter == "pysbd":
        seg = pysbd.Segmenter(language="en", clean=False)
        sentences = seg.segment(text)
    else:
        sentences = [text]
    ret = miss = False
    for sent in sentences:
        doc = nlp(sent)
        for ent in doc.ents:
            negated = bool(ent._.negex)
            if ent.label_ == "RETURN" and not negated:
                ret = True
            elif (ent.label_ == "MISSING" and not negated) or (ent.label_ == "RETURN" and negated):
                miss = True
    if ret and not miss:
        return "returned"
    if miss:
        return "missing"
    return "neither"


def main() -> None:
    nlp = _pipeline()
    rows = {"rules (context.py)": [0, 0, 0], "negspacy + spaCy sentencizer": [0, 0, 0],
            "negspacy + pysbd": [0, 0, 0]}
    split_agree = [0, 0]
    seg = pysbd.Segmenter(language="en", clean=False)
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # "b2": held-out batch 2 only
    for path in sorted(FIXTURES.glob("*.eml")):
        spec = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
        if only == "b2" and spec.get("held_out") != 2:
            continue
        want = spec["kind"]
        if want not in ("missing", "returned", "not_a_report", "info"):
            continue
        want = "neither" if want in ("not_a_report", "info") else want
        msg = read_message(path.read_bytes())
        fields = extract_fields(msg, tz=LONDON, received_at=received_for(msg, spec))
        text = without_form_furniture(msg.text)
        kind_read = classify(msg, fields).kind
        ours = kind_read if kind_read in ("missing", "returned") else "neither"
        got = {"rules (context.py)": ours,
               "negspacy + spaCy sentencizer": negspacy_kind(nlp, text, "spacy"),
               "negspacy + pysbd": negspacy_kind(nlp, text, "pysbd")}
        for name, kind in got.items():
            rows[name][0] += 1
            rows[name][1] += kind == want
            rows[name][2] += want == "missing" and kind == "returned"
        # sentence splitting: do both splitters find the same number of sentences?
        ours_n = len({c.text.split(" but ")[0] for c in clauses(text)})
        split_agree[0] += 1
        split_agree[1] += len([s for s in seg.segment(text) if s.strip()]) == ours_n
    print("| approach | reports | kind right | unsafe |")
    print("|---|---|---|---|")
    for name, (n, ok, bad) in rows.items():
        print(f"| {name} | {n} | {ok} | {bad} |")
    print(f"\npysbd sentence count equal to ours on {split_agree[1]} / {split_agree[0]} reports")
    sys.exit(0)


if __name__ == "__main__":
    main()
