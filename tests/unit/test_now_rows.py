"""web/now_rows: the Now page's rows, formatted in Python for speed, are the HTML the Jinja loop
gave (the golden text below was rendered by that loop, now_table.html at 01e7669), and a changed
row is never served from the cache."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailbridge.store.views import Ack, NextAction, NowRow
from mailbridge.web.core import ACTION_LABEL, RISK_LABEL, _duration
from mailbridge.web.now_rows import NowRows

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # half an hour before the clocks go forward
LONDON = ZoneInfo("Europe/London")


def _local(value: datetime, fmt: str) -> str:
    return value.astimezone(LONDON).strftime(fmt)


def _rows() -> list[NowRow]:
    return [
        NowRow("MB-2026-00001", "100231", "J.C.", 14, "Oakview <House> & Co", None,
               NOW - timedelta(hours=3), NOW - timedelta(hours=4), NOW - timedelta(hours=4),
               'Near the "park" & <shops>', True,
               (Ack("social_worker", "sw@x.example", NOW - timedelta(hours=2)),
                Ack("team_manager", "o'neil@x.example", NOW - timedelta(minutes=30))),
               NextAction("escalate_duty", NOW + timedelta(hours=1))),
        NowRow("MB-2026-00002", None, "?", None, None, "high",
               NOW - timedelta(minutes=3), NOW - timedelta(minutes=3), None, None, False,
               (), None),
        NowRow("MB-2026-00003", "100232", "C.D.", 0, "Riverside", "low",
               NOW - timedelta(days=3, hours=2), NOW - timedelta(days=3, hours=2), None,
               "", False, (Ack("iro", "iro@x.example", NOW - timedelta(days=1)),),
               NextAction("some_new_kind", NOW + timedelta(days=2))),
        NowRow("MB-2026-00004", "100233", "T.<H>", 15, "", "medium",
               NOW + timedelta(minutes=5), NOW + timedelta(minutes=5),
               NOW - timedelta(hours=30), "Bus <stop>", True, (),
               NextAction("still_missing", NOW - timedelta(hours=1))),
    ]


GOLDEN = """
    <tr>
      <td><a href="/episodes/MB-2026-00001">MB-2026-00001</a>
<br><strong class="tag tag-warn">Check</strong></td>
      <td>J.C. <span class="hint">100231</span></td>
      <td>14</td>
      <td>Oakview &lt;House&gt; &amp; Co</td>
      <td><strong class="tag tag-risk-unknown">Not assessed</strong></td>
      <td>4 h 0 min</td>
      <td>Sat 28 Mar 20:30<br><span class="hint">Near the &#34;park&#34; &amp; &lt;shops&gt;</span></td>
      <td>sw@x.example <span class="hint">(social worker, 22:30)</span><br>o&#39;neil@x.example <span class="hint">(team manager, 00:00)</span></td>
      <td>to the duty desk<br><span class="hint">Sun 02:30</span></td>
    </tr>
    <tr>
      <td><a href="/episodes/MB-2026-00002">MB-2026-00002</a>
</td>
      <td><strong class="tag tag-warn">Unmatched</strong> ?</td>
      <td>-</td>
      <td>-</td>
      <td><strong class="tag tag-risk-high">High</strong></td>
      <td>3 min</td>
      <td>Time not given</td>
      <td><strong class="tag tag-alert">Not acknowledged</strong></td>
      <td>-</td>
    </tr>
    <tr>
      <td><a href="/episodes/MB-2026-00003">MB-2026-00003</a>
</td>
      <td>C.D. <span class="hint">100232</span></td>
      <td>0</td>
      <td>Riverside</td>
      <td><strong class="tag tag-risk-low">Low</strong></td>
      <td>3 d 2 h</td>
      <td>Time not given</td>
      <td>iro@x.example <span class="hint">(iro, 00:30)</span></td>
      <td>some_new_kind<br><span class="hint">Tue 01:30</span></td>
    </tr>
    <tr>
      <td><a href="/episodes/MB-2026-00004">MB-2026-00004</a>
<br><strong class="tag tag-warn">Check</strong></td>
      <td>T.&lt;H&gt; <span class="hint">100233</span></td>
      <td>15</td>
      <td>-</td>
      <td><strong class="tag tag-risk-medium">Medium</strong></td>
      <td>0 min</td>
      <td>Fri 27 Mar 18:30<br><span class="hint">Bus &lt;stop&gt;</span></td>
      <td><strong class="tag tag-alert">Not acknowledged</strong></td>
      <td>still-missing reminder<br><span class="hint">Sat 23:30</span></td>
    </tr>"""  # noqa: E501 (the template's own lines)


def _formatter(limit: int = 5000) -> NowRows:
    return NowRows(
        _local, risk_label=RISK_LABEL, action_label=ACTION_LABEL, duration=_duration, limit=limit
    )


def test_the_rows_are_the_html_the_template_loop_gave() -> None:
    formatter = _formatter()
    assert formatter.html(_rows(), NOW) == GOLDEN
    assert formatter.html(_rows(), NOW) == GOLDEN  # the second time from the cache


def test_missing_for_moves_with_the_clock_and_a_changed_row_is_formatted_again() -> None:
    formatter = _formatter()
    first, *_ = _rows()
    assert "<td>4 h 0 min</td>" in formatter.html([first], NOW)
    assert "<td>5 h 1 min</td>" in formatter.html([first], NOW + timedelta(minutes=61))
    acked = replace(first, acks=(*first.acks, Ack("duty", "duty@x.example", NOW)))
    html = formatter.html([acked], NOW)
    assert "duty@x.example <span class=\"hint\">(duty, 00:30)</span>" in html
    assert "duty@x.example" not in formatter.html([first], NOW)
    moved = replace(first, placement="Elm <Lodge>")
    assert "<td>Elm &lt;Lodge&gt;</td>" in formatter.html([moved], NOW)


def test_the_cache_stays_within_its_limit() -> None:
    formatter = _formatter(limit=8)
    base = _rows()[1]
    rows = [replace(base, reference=f"MB-2026-{n:05d}") for n in range(40)]
    html = formatter.html(rows, NOW)
    assert html.count("<tr>") == 40 and len(formatter._cache) <= 8
    assert [f"MB-2026-{n:05d}" in html for n in range(40)] == [True] * 40
