"""The write comparison of `make bench` in its report: the outbox target's arithmetic, and a
smoke that fails when the comparison did not run as meant."""

from bench import report
from bench.load import Result, Scenario
from bench.run import Measured

PROBE = Scenario("users-300-list", "list", 300, 1000)


def result(name: str, answered: int, *, refused: int = 0, outbox: bool = True) -> Result:
    """One second of a writes run: `answered` 2xx, `refused` other statuses."""
    return Result(
        scenario=Scenario(name, "writes", 100, 0, outbox=outbox),
        duration_s=1.0,
        requests=answered + refused,
        non_2xx=refused,
        socket_errors={"connect": 0, "read": 0, "write": 0, "timeout": 0},
        statuses={"201": answered // 2, "200": answered - answered // 2, "503": refused},
        p50_ms=1.0,
        p90_ms=2.0,
        p99_ms=3.0,
        p99_answered_ms=3.0,
        max_ms=4.0,
        wrk_cpu_s=0.1,
    )


def record(measured: Measured, run: Result, *, events: int, disabled: tuple[str, ...]) -> None:
    name = run.scenario.name
    measured.results[name] = run
    measured.peak_rss_mb[name] = 80.0
    measured.app_cpu[name] = 1.0
    measured.db_cpu[name] = 0.5
    measured.wrk_cpu[name] = 0.1
    measured.other_cpu[name] = 0.0
    measured.writes[name] = (run.statuses["201"], run.statuses["201"])
    measured.events[name] = events
    if not run.scenario.outbox:
        measured.outbox_off[name] = disabled


def comparison(
    with_outbox: int, without: int, ceiling_rps: int, *, events_off: int = 0
) -> tuple[Measured, Measured, Measured]:
    product, ceiling, floor = Measured("product"), Measured("ceiling"), Measured("floor")
    off = ("tasks_outbox",)
    record(
        product,
        result(report.WRITES_OUTBOX_OFF, without, outbox=False),
        events=events_off,
        disabled=off,
    )
    record(
        ceiling, result(report.WRITES_OUTBOX_OFF, ceiling_rps, outbox=False), events=0, disabled=off
    )
    record(product, result(report.WRITES, with_outbox), events=with_outbox, disabled=())
    return product, ceiling, floor


def writes_target(
    product: Measured, ceiling: Measured, floor: Measured
) -> tuple[str, str, bool | None]:
    (row,) = [
        target
        for target in report._targets(product, ceiling, floor, None, PROBE)
        if target[0].startswith(report.WRITES + ":")
    ]
    return row


def test_the_outbox_target_is_the_share_of_the_ceiling_kept() -> None:
    # 510 / 1,000 against 600 / 1,000: 85% of the share kept, the least allowed.
    _, measured, met = writes_target(*comparison(510, 600, 1000))
    assert met is True
    assert "= 51%" in measured
    assert "= 60%" in measured
    assert "51% / 60% = 85%" in measured
    # App / DB CPU per request of each run: 1.0 and 0.5 cores over its requests.
    assert "product 1.96 / 0.98" in measured
    assert "ceiling, outbox off 1.00 / 0.50" in measured
    assert "tasks_outbox disabled" in measured


def test_the_outbox_target_fails_below_85_percent_kept() -> None:
    _, measured, met = writes_target(*comparison(500, 600, 1000))
    assert met is False
    assert "50% / 60% = 83%" in measured


def test_the_ceiling_of_the_writes_is_the_one_without_the_outbox() -> None:
    product, ceiling, floor = comparison(510, 600, 1000)
    rows = [
        row
        for row in report._rows(product, ceiling, floor)
        if row.startswith("| saturation-writes")
    ]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| saturation-writes, outbox off", "product"],
        ["| saturation-writes, outbox off", "ceiling"],
        ["| saturation-writes", "product"],
    ]
    # req/s against the ceiling's (outbox off): 0.60 without the outbox, 0.51 with it.
    assert rows[0].split(" | ")[-2] == "0.60"
    assert rows[2].split(" | ")[-2] == "0.51"


def test_the_smoke_passes_when_the_comparison_ran_as_meant() -> None:
    assert report.smoke_verdict(*comparison(510, 600, 1000)) == 0


def test_the_smoke_fails_when_the_writes_answered_nothing() -> None:
    product, ceiling, floor = comparison(510, 600, 1000)
    product.results[report.WRITES] = result(report.WRITES, 0)
    assert report.smoke_verdict(product, ceiling, floor) == 1


def test_the_smoke_fails_when_the_comparison_did_not_run() -> None:
    product, ceiling, floor = comparison(510, 600, 1000)
    del ceiling.results[report.WRITES_OUTBOX_OFF]
    assert report.smoke_verdict(product, ceiling, floor) == 1


def test_the_smoke_fails_when_the_outbox_was_written_with_it_off() -> None:
    assert report.smoke_verdict(*comparison(510, 600, 1000, events_off=3)) == 1


def test_the_smoke_fails_when_no_trigger_was_disabled() -> None:
    product, ceiling, floor = comparison(510, 600, 1000)
    product.outbox_off[report.WRITES_OUTBOX_OFF] = ()
    assert report.smoke_verdict(product, ceiling, floor) == 1


def test_the_smoke_fails_on_a_lost_write() -> None:
    product, ceiling, floor = comparison(510, 600, 1000)
    product.writes[report.WRITES] = (255, 254)
    assert report.smoke_verdict(product, ceiling, floor) == 1
