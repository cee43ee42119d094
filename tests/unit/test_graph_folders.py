"""How a Graph folder setting is read before any request: well-known names, ids and paths."""

from __future__ import annotations

from mailbridge.ingress.graph_folders import levels, looks_like_id, well_known


def test_well_known_names_in_any_case_and_display_names_that_are_not() -> None:
    assert well_known("inbox") == "inbox"
    assert well_known(" DeletedItems ") == "deleteditems"
    assert well_known("Archive") == "archive"
    assert well_known("Deleted Items") is None  # the display name, looked up as one
    assert well_known("Processed") is None


def test_a_path_is_display_names_separated_by_slashes() -> None:
    assert levels("Missing reports/Processed") == ["Missing reports", "Processed"]
    assert levels(" Inbox / Missing reports ") == ["Inbox", "Missing reports"]
    assert levels("Processed") == ["Processed"]
    assert levels("/") == []


def test_what_looks_like_a_graph_folder_id() -> None:
    assert looks_like_id(
        "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TK="
    )
    assert not looks_like_id("Processed")
    assert not looks_like_id("Missing reports processed by the duty team in 2026")
    assert not looks_like_id("Inbox/AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5")
