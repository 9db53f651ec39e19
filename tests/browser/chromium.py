"""The headless Chromium the browser tests drive: where it is and how it is launched."""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
]


def chromium_executable() -> str | None:
    """``$RW_CHROMIUM`` if set, else the system Chromium (Debian ``chromium``), or None."""
    if os.environ.get("RW_CHROMIUM"):
        return os.environ["RW_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None
