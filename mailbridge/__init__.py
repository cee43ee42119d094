"""mailbridge: carers' missing-child emails in, episodes and alerts out, nothing lost."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mailbridge")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"
