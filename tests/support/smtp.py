"""Reading what the listener stored."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.store import db
from mailbridge.store.models import InboundMessage


def stored(svc) -> list[InboundMessage]:
    engine = db.make_engine(svc.settings.database_url)
    with Session(engine) as s:
        result = list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        for r in result:
            _ = r.raw
    engine.dispose()
    return result
