"""Which pipeline the worker runs.

The intake foundation stores and finishes messages without reading them; the reading
pipeline replaces ``StoreOnlyPipeline`` here and nowhere else.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailbridge.config import Settings
from mailbridge.models import PROCESSED, InboundMessage
from mailbridge.pipeline import Outcome, Pipeline


class StoreOnlyPipeline:
    """Marks a stored message processed: the seam the reading pipeline plugs into."""

    def process(self, session: Session, message: InboundMessage) -> Outcome:
        return Outcome(PROCESSED, "stored; reading not enabled")

    def gave_up(self, session: Session, message: InboundMessage, error: str) -> None:
        return None


def build_pipeline(settings: Settings) -> Pipeline:
    return StoreOnlyPipeline()
