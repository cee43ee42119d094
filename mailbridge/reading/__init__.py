"""The pure reading core: raw bytes to a typed message, report fields and a classification."""

from mailbridge.reading.classify import Classification, classify
from mailbridge.reading.fields import ReportFields, extract_fields
from mailbridge.reading.message import Attachment, ReadMessage, read_message
from mailbridge.reading.police import find_police_reference

__all__ = [
    "Attachment",
    "Classification",
    "ReadMessage",
    "ReportFields",
    "classify",
    "extract_fields",
    "find_police_reference",
    "read_message",
]
