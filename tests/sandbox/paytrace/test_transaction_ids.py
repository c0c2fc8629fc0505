"""Two PayTrace sandbox processes are two merchants: their transaction ids differ unless told to
overlap (``--first-transaction-id``), which the several-accounts collision test needs."""

from __future__ import annotations

import pytest

from paybridge_sandbox import cli


def _first_id(argv: list[str]) -> int:
    app, banner = cli._paytrace(cli.parse(argv))
    first = int(app.state.sandbox.state.counters.transaction_id)
    assert f"first transaction id:    {first}" in "\n".join(banner)
    return first


def test_two_sandboxes_on_two_ports_hand_out_different_ids_by_default() -> None:
    one = _first_id(["paytrace", "--port", "18101"])
    two = _first_id(["paytrace", "--port", "18102"])
    assert one != two
    assert abs(one - two) >= 100_000  # a merchant's day never runs into the other's ids


def test_the_first_id_can_be_given_so_that_two_sandboxes_overlap() -> None:
    argv = ["--first-transaction-id", "500000001"]
    assert _first_id(["paytrace", "--port", "18101", *argv]) == 500_000_001
    assert _first_id(["paytrace", "--port", "18102", *argv]) == 500_000_001


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["dynamics", "--first-transaction-id", "5"], "is for the paytrace sandbox"),
        (["paytrace", "--first-transaction-id", "0"], "must be a positive number"),
    ],
)
def test_a_bad_first_id_is_refused(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parse(argv)
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err
