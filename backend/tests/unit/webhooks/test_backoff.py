import pytest

from app.webhooks.backoff import JITTER, RETRY_SCHEDULE_SECONDS, retry_delay


def test_the_schedule_follows_standard_webhooks() -> None:
    middle = [retry_delay(n, draw=0.5) for n in range(1, 9)]
    assert middle == [5, 300, 1800, 7200, 18000, 36000, 36000, 36000]


def test_the_first_retry_comes_within_ten_seconds_whatever_the_jitter() -> None:
    assert retry_delay(1, draw=0.0) == pytest.approx(5 * (1 - JITTER))
    assert retry_delay(1, draw=1.0) == pytest.approx(5 * (1 + JITTER))
    assert all(retry_delay(1) <= 10 for _ in range(1000))


def test_jitter_spreads_the_retries() -> None:
    delays = {retry_delay(3) for _ in range(50)}
    assert len(delays) > 40
    step = RETRY_SCHEDULE_SECONDS[2]
    assert all(step * (1 - JITTER) <= delay <= step * (1 + JITTER) for delay in delays)


def test_there_is_no_zeroth_failure() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        retry_delay(0)
