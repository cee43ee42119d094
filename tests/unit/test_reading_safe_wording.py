""""Safe and well" in the ways carers shorten it: "S&W", "tired but safe", "nee marks on her";
not "safe at her friend's" (where she is, not that she is back and well)."""

from __future__ import annotations

import pytest

from mailbridge.reading.phrases import _safe_and_well


@pytest.mark.parametrize(
    "text",
    [
        "Tayla R returned to carer at 21.05hrs on 09/01/27, S&W. Police have closed it.",
        "Tayla back 21.05, S & W, RHI to be arranged.",
        "Police brought her back at 6.40 this morning. She's tired but safe, asleep now.",
        "She come in the door at half ten, nee marks on her, just tired.",
    ],
)
def test_shortened_safe_and_well(text: str) -> None:
    assert _safe_and_well(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "Her friend's mum says she is tired but safe at theirs.",
        "Spoke to Sam the SW about the plan.",
    ],
)
def test_where_she_is_or_a_social_worker_is_not_safe_and_well(text: str) -> None:
    assert _safe_and_well(text) is None
