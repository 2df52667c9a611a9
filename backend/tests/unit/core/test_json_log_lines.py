"""The JSON log line (app.core.logging_config.JsonLineFormatter)."""

import logging
import sys
import uuid

import orjson

from app.core.logging_config import JsonLineFormatter


def _record(**extra: object) -> logging.LogRecord:
    return logging.getLogger("app.test").makeRecord(
        "app.test", logging.WARNING, __file__, 1, "%s of %d", ("two", 3), None, extra=extra
    )


def test_a_line_has_the_level_logger_message_extra_fields_and_time_in_this_order() -> None:
    task = uuid.uuid4()
    line = orjson.loads(JsonLineFormatter().format(_record(request_id="r1", task=task)))

    assert list(line) == ["level", "logger", "message", "request_id", "task", "time"]
    assert line["level"] == "WARNING"
    assert line["logger"] == "app.test"
    assert line["message"] == "two of 3"
    assert line["task"] == str(task)
    assert line["time"].endswith("+00:00")


def test_an_exception_is_in_the_line_with_its_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = _record()
        record.exc_info = sys.exc_info()
    line = orjson.loads(JsonLineFormatter().format(record))

    assert "Traceback" in line["exc_info"]
    assert "ValueError: broken" in line["exc_info"]


def test_a_value_json_cannot_hold_is_written_as_its_text() -> None:
    line = orjson.loads(JsonLineFormatter().format(_record(thing=object)))

    assert line["thing"] == str(object)
