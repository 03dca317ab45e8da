"""Log lines for the console: records from uvicorn, Litestar and Usher go to a ring buffer that
the Server log screen shows, never to the terminal the TUI is drawing on."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime

from store.domain.text import clean_line

LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar", "usher")


class LogLine:
    __slots__ = ("level", "text", "when")

    def __init__(self, when: datetime, level: str, text: str) -> None:
        self.when = when
        self.level = level
        self.text = text


class LogBuffer(logging.Handler):
    """Keeps the last `size` lines and tells a listener (on the app's thread) about new ones."""

    def __init__(self, size: int = 2000) -> None:
        super().__init__(level=logging.INFO)
        self.lines: deque[LogLine] = deque(maxlen=size)
        self._listener: Callable[[LogLine], None] | None = None
        self._owner = threading.get_ident()
        self._call_from_thread: Callable[[Callable[[LogLine], None], LogLine], None] | None = None

    def listen(
        self,
        listener: Callable[[LogLine], None] | None,
        call_from_thread: Callable[[Callable[[LogLine], None], LogLine], None] | None = None,
    ) -> None:
        self._listener = listener
        self._call_from_thread = call_from_thread
        self._owner = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = clean_line(record.getMessage())
        except Exception:
            text = clean_line(str(record.msg))
        line = LogLine(datetime.fromtimestamp(record.created), record.levelname, text)
        self.lines.append(line)
        listener = self._listener
        if listener is None:
            return
        try:
            if threading.get_ident() == self._owner:
                listener(line)
            elif self._call_from_thread is not None:
                self._call_from_thread(listener, line)
        except Exception:
            self.handleError(record)


def capture_logs(buffer: LogBuffer) -> Callable[[], None]:
    """Route the server's loggers into `buffer` only; returns a function that undoes it."""
    saved: list[tuple[logging.Logger, list[logging.Handler], bool, int]] = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate, logger.level))
        logger.handlers = [buffer] if name in {"uvicorn", "litestar", "usher"} else []
        logger.propagate = name not in {"uvicorn", "litestar", "usher"}
        logger.setLevel(logging.INFO)

    def restore() -> None:
        for logger, handlers, propagate, level in saved:
            logger.handlers = handlers
            logger.propagate = propagate
            logger.setLevel(level)

    return restore
