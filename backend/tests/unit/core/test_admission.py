"""The load shedding's limit: what a worker finishes in MAX_EXPECTED_WAIT_MS, at the higher of
the last 0.2 s's and the last second's rates, never below MIN_LIMIT (a quiet worker takes a
burst), never above MAX_CONCURRENT_REQUESTS; either bound can be turned off."""

from app.core.admission import MIN_LIMIT, TICK_SECONDS, WINDOW_TICKS, Admission

WAIT = 0.1


def run_for(admission: Admission, seconds: float, per_second: int) -> None:
    """`seconds` of ticks, finishing `per_second` requests a second."""
    for _ in range(round(seconds / TICK_SECONDS)):
        admission.finished += round(per_second * TICK_SECONDS)
        admission.update()


def test_the_limit_is_what_the_worker_finishes_in_the_expected_wait() -> None:
    admission = Admission(WAIT, 1000)
    run_for(admission, 2, per_second=1200)
    assert admission.limit == 120
    assert admission.admits(120)
    assert not admission.admits(121)


def test_a_busier_worker_is_followed_within_two_ticks() -> None:
    admission = Admission(WAIT, 1000)
    run_for(admission, 2, per_second=100)
    assert admission.limit == MIN_LIMIT
    run_for(admission, 2 * TICK_SECONDS, per_second=2000)
    assert admission.limit == 200


def test_a_short_pause_does_not_lower_the_limit_but_a_slower_second_does() -> None:
    admission = Admission(WAIT, 1000)
    run_for(admission, 2, per_second=2000)
    run_for(admission, 2 * TICK_SECONDS, per_second=0)  # 0.2 s finishing nothing
    assert admission.limit == 160  # the last second's rate: 8 ticks of 10
    run_for(admission, TICK_SECONDS * WINDOW_TICKS, per_second=1000)
    assert admission.limit == 100


def test_a_quiet_worker_takes_a_burst() -> None:
    admission = Admission(WAIT, 1000)
    assert admission.limit == MIN_LIMIT  # before any tick
    run_for(admission, 2, per_second=10)
    assert admission.limit == MIN_LIMIT


def test_max_concurrent_requests_caps_the_limit() -> None:
    admission = Admission(WAIT, 80)
    run_for(admission, 2, per_second=10_000)
    assert admission.limit == 80
    assert Admission(WAIT, 10).limit == 10


def test_either_bound_alone_or_none() -> None:
    by_count = Admission(0, 5)
    run_for(by_count, 2, per_second=10_000)
    assert by_count.limit == 5
    unbounded = Admission(0, 0)
    run_for(unbounded, 2, per_second=10_000)
    assert unbounded.admits(1_000_000)
    by_wait = Admission(WAIT, 0)
    run_for(by_wait, 2, per_second=10_000)
    assert by_wait.limit == 1000
