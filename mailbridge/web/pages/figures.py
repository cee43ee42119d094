"""The Figures page: the existing report for any period, its standalone HTML with charts, and the
SSDA903 export with its exclusions (each download an audit line).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mailbridge.errors import MailbridgeError
from mailbridge.reports import ssda903
from mailbridge.reports.report import build_report
from mailbridge.store import tx
from mailbridge.web import auth
from mailbridge.web.core import Ctx, WebApp, page

log = logging.getLogger(__name__)

# -- figures ----------------------------------------------------------------------------------


def _period(request: Request, today: date) -> tuple[date, date]:
    first = today.replace(day=1)
    try:
        start = date.fromisoformat(request.query_params.get("start", "") or first.isoformat())
        end = date.fromisoformat(request.query_params.get("end", "") or today.isoformat())
    except ValueError:
        start, end = first, today
    if end < start:
        start, end = end, start
    return start, end


@page(auth.CAN_FIGURES)
async def figures_page(app: WebApp, ctx: Ctx) -> Response:
    start, end = _period(ctx.request, app.today())

    def load() -> Any:
        return build_report(app.engine, app.settings, start, end, now=app.now())

    report = await run_in_threadpool(load)
    year = ssda903.parse_year(str(app.today().year - (1 if app.today().month < 4 else 0)))
    return app.render(
        ctx.request,
        "figures.html",
        who=ctx.who,
        r=report,
        rows=list(report.rows()),
        charts=report.charts(),
        start=start,
        end=end,
        year=ctx.request.query_params.get("year", str(year.first_day.year)),
    )


@page(auth.CAN_FIGURES)
async def figures_report(app: WebApp, ctx: Ctx) -> Response:
    start, end = _period(ctx.request, app.today())
    report = await run_in_threadpool(
        lambda: build_report(app.engine, app.settings, start, end, now=app.now())
    )
    response = HTMLResponse(report.html())
    # The report is a standalone document with its own inline styles and SVG charts.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    )
    return response


@page(auth.CAN_FIGURES)
async def ssda903_page(app: WebApp, ctx: Ctx) -> Response:
    try:
        year = ssda903.parse_year(ctx.request.query_params.get("year", ""))
    except (MailbridgeError, ValueError) as exc:
        return app.error(ctx.request, 400, "Not a year", str(exc), who=ctx.who)

    def load() -> tuple[list[ssda903.MissingRow], list[ssda903.Violation]]:
        with tx.read(app.engine) as s:
            rows = ssda903.load_rows(s, year, app.settings.tz)
        return rows, ssda903.validate(rows, year)

    rows, problems = await run_in_threadpool(load)
    if ctx.request.query_params.get("download") and not problems:

        def note() -> None:
            with tx.write(app.engine) as s:
                app.audit(
                    s,
                    ctx,
                    entity="ssda903",
                    entity_id=year.label,
                    action="exported",
                    detail={"rows": len(rows)},
                )

        await run_in_threadpool(note)
        return Response(
            ssda903.render_csv(rows, year),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="ssda903-missing-{year.label}.csv"'
            },
        )
    return app.render(
        ctx.request, "ssda903.html", who=ctx.who, year=year, rows=rows, problems=problems
    )

