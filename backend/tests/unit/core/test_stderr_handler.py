"""The stderr handler (app.core.logging_config.StderrHandler): lines logged on a running event
loop are written together, once per pass of the loop, in order; lines logged elsewhere are
written at once, after any pending ones; a plain stderr handler (`logging.basicConfig`'s) is
replaced by it."""

import asyncio
import logging
import sys
import threading

import pytest

from app.core.config import Settings
from app.core.logging_config import StderrHandler, configure_logging


class Stream:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def stderr_of_the_test(monkeypatch: pytest.MonkeyPatch) -> Stream:
    """A stream in place of `sys.stderr`, installed by the test itself: pytest sets
    `sys.stderr` again between a test's fixtures and its body."""
    stream = Stream()
    monkeypatch.setattr(sys, "stderr", stream)
    return stream


def handler_logger(name: str) -> tuple[logging.Logger, StderrHandler]:
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, handler


def test_lines_logged_on_a_loop_are_written_once_per_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = stderr_of_the_test(monkeypatch)
    logger, _ = handler_logger("test.stderr.loop")

    async def log_three() -> None:
        logger.info("one")
        logger.info("two")
        assert stream.writes == []  # not yet: the loop has not passed
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert stream.writes == ["one\ntwo\n"]
        logger.info("three")
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(log_three())
    assert stream.writes == ["one\ntwo\n", "three\n"]


def test_lines_logged_off_the_loop_are_written_at_once_after_pending_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = stderr_of_the_test(monkeypatch)
    logger, _ = handler_logger("test.stderr.direct")
    logger.info("no loop")
    assert stream.writes == ["no loop\n"]

    async def pending_then_a_thread() -> None:
        logger.info("pending")
        thread = threading.Thread(target=logger.info, args=("from a thread",))
        thread.start()
        thread.join()
        assert stream.writes == ["no loop\n", "pending\nfrom a thread\n"]
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(pending_then_a_thread())
    assert stream.writes == ["no loop\n", "pending\nfrom a thread\n"]


def test_a_flush_writes_what_is_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = stderr_of_the_test(monkeypatch)
    logger, handler = handler_logger("test.stderr.shutdown")

    async def last_words() -> None:
        logger.info("last words")
        handler.flush()  # as logging.shutdown does at exit
        assert stream.writes == ["last words\n"]

    asyncio.run(last_words())
    assert stream.writes == ["last words\n"]


def test_a_plain_stderr_handler_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    plain = logging.StreamHandler(sys.stderr)
    monkeypatch.setattr(root, "handlers", [plain])
    configure_logging(Settings(_env_file=None, app_env="test"))
    assert [type(handler) for handler in root.handlers] == [StderrHandler]
