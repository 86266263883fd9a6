"""Secrets never leave the process: tokens and signed URL query strings are redacted everywhere.

Signed CDN URLs are bearer credentials (their query string is the signature), and `hf_…` tokens
travel in headers that exceptions like to echo. Every message we print, log or store goes through
`redact`; `install_log_filter` routes huggingface_hub's own log records (which include request URLs)
through it too.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

TYPE_CHECKING = False
if TYPE_CHECKING:  # `logging` costs ~15 ms at import; only the filter needs it, lazily
    import logging

_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")
_AUTH_HEADER = re.compile(
    r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)((?:bearer|basic)\s+)?[^\s'\",}]+"
)
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+)")  # any scheme: socks5://u:p@h too


def _strip_query(match: re.Match[str]) -> str:
    try:
        parts = urlsplit(match.group(1))
    except ValueError:  # not a URL after all (an odd IPv6 bracket): keep the scheme only
        return match.group(1).split("://", 1)[0] + "://<redacted>"
    if not parts.query and "@" not in parts.netloc:
        return match.group(1)
    host = parts.netloc.rsplit("@", 1)[-1]
    query = "<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def redact(text: str) -> str:
    """Remove tokens, Authorization values, URL userinfo and URL query strings from `text`."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token and len(token) >= 4:
        text = text.replace(token, "<redacted>")
    text = _URL.sub(_strip_query, text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + (m.group(2) or "") + "<redacted>", text)
    return _TOKEN.sub("hf_<redacted>", text)


def redact_record(record: logging.LogRecord) -> bool:
    """A logging filter (a plain callable): rewrite the record's message through `redact`."""
    record.msg = redact(record.getMessage())
    record.args = ()
    return True


def install_log_filter(logger_name: str = "huggingface_hub") -> None:
    """Redact the records of `logger_name` (idempotent)."""
    import logging

    logger = logging.getLogger(logger_name)
    if redact_record not in logger.filters:
        logger.addFilter(redact_record)
