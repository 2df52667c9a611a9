"""The load shedding's limit: what a worker finishes in MAX_EXPECTED_WAIT_MS at the rate of the
last second, never below MIN_LIMIT (a quiet worker takes a burst), never above
MAX_CONCURRENT_REQUESTS; either bound can be turned off."""

from app.core.admission import MIN_LIMIT, TICK_SECONDS, WINDOW_TICKS, Admission


def run_for(admission: Admission, seconds: float, per_second: int) -> None:
    """`seconds` of ticks, finishing `per_second` requests a second."""
    for _ in range(round(seconds / TICK_SECONDS)):
        admission.finished += round(per_second * TICK_SECONDS)
        admission.update()


def test_the_limit_is_what_the_worker_finishes_in_the_expected_wait() -> None:
    admission = Admission(0.05, 1000)
    run_for(admission, 2, per_second=1200)
    assert admission.limit == 60
    assert admission.admits(60)
    assert not admission.admits(61)


def test_the_rate_is_the_last_seconds() -> None:
    admission = Admission(0.05, 1000)
    run_for(admission, 2, per_second=2000)
    assert admission.limit == 100
    # Slower: after a whole window, only the new rate counts.
    run_for(admission, TICK_SECONDS * WINDOW_TICKS, per_second=1000)
    assert admission.limit == 50


def test_a_quiet_worker_takes_a_burst() -> None:
    admission = Admission(0.05, 1000)
    assert admission.limit == MIN_LIMIT  # before any tick
    run_for(admission, 2, per_second=10)
    assert admission.limit == MIN_LIMIT


def test_max_concurrent_requests_caps_the_limit() -> None:
    admission = Admission(0.05, 80)
    run_for(admission, 2, per_second=10_000)
    assert admission.limit == 80
    assert Admission(0.05, 10).limit == 10


def test_either_bound_alone_or_none() -> None:
    by_count = Admission(0, 5)
    run_for(by_count, 2, per_second=10_000)
    assert by_count.limit == 5
    unbounded = Admission(0, 0)
    run_for(unbounded, 2, per_second=10_000)
    assert unbounded.admits(1_000_000)
    by_wait = Admission(0.05, 0)
    run_for(by_wait, 2, per_second=10_000)
    assert by_wait.limit == 500
