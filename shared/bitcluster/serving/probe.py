"""Readiness probe for container health checks, standard library only.

``python -m bitcluster.serving.probe [URL]`` exits 0 when ``URL`` (default
``http://127.0.0.1:8000/readyz``) answers 200, else 1. It sends ``BITCLUSTER_API_KEY`` as a
bearer token when that variable is set (or the content of ``BITCLUSTER_API_KEY_FILE``), since
``/readyz`` is closed by the key.
"""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/readyz"


def main(argv: list[str]) -> int:
    request = urllib.request.Request(argv[1] if len(argv) > 1 else DEFAULT_URL)
    key = os.environ.get("BITCLUSTER_API_KEY", "").strip()
    if not key and os.environ.get("BITCLUSTER_API_KEY_FILE"):
        with open(os.environ["BITCLUSTER_API_KEY_FILE"]) as file:
            key = file.read().strip()
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as e:
        print(f"not ready: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
