"""`USHER_LOG_FORMAT=json`: one JSON object a line, for journald and log shippers.

Keys: `ts` (UTC, ISO 8601), `level`, `logger`, `message`, and `exc` with the traceback when
there is one. The message is the same text the plain format prints (tokens already redacted by
the access-log filter), so switching formats never reveals more.
"""

from __future__ import annotations

import datetime
import logging

import msgspec

__all__ = ["JsonFormatter", "formatter_for"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry).decode()


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter for `Settings.log_format` (validated there: `text` or `json`)."""
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
