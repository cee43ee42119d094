#!/usr/bin/env python3
"""Docker HEALTHCHECK: GET /healthz when [http] is enabled; exit 0 when healthy.

With the endpoint disabled there is nothing to ask, and the container counts as healthy.
"""

import sys
import urllib.request

from mailbridge.config import load_settings


def main() -> int:
    settings = load_settings()
    if not settings.http.enabled:
        return 0
    host = settings.http.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - an address to reach, not to bind
        host = "127.0.0.1"
    url = f"http://{host}:{settings.http.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            return 0 if resp.status == 200 else 1
    except Exception as exc:
        print(f"mailbridge healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
