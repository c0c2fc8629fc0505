"""Keys of several merchant accounts: the main account's are as before; another's are qualified."""

from __future__ import annotations

import pytest

from paybridge.keys import (
    account_transaction,
    fact_account,
    paytrace_fact,
    poller_cursor,
    transaction_partition,
)


def test_the_main_accounts_keys_are_unchanged() -> None:
    assert paytrace_fact("100000004", "sale") == "paytrace:100000004:sale"
    assert transaction_partition(100000004) == "paytrace:100000004"
    assert poller_cursor() == "paytrace.poller"
    assert account_transaction(5) == "5"


def test_another_accounts_keys_are_qualified_by_its_name() -> None:
    assert paytrace_fact("5", "sale", "retail") == "paytrace:retail/5:sale"
    assert transaction_partition("5", "retail") == "paytrace:retail/5"
    assert poller_cursor("retail") == "paytrace.poller.retail"
    assert paytrace_fact("5", "sale", "retail") != paytrace_fact("5", "sale")


@pytest.mark.parametrize(
    ("key", "account"),
    [
        ("paytrace:5:sale", ""),
        ("paytrace:retail/5:sale", "retail"),
        ("paytrace:retail/ACH900001:return", "retail"),
        ("paytrace:ACH900001:return", ""),
        ("paytrace:retail/5:sale:heal:2026-03-10-run-1", "retail"),
    ],
)
def test_the_account_of_a_fact_key(key: str, account: str) -> None:
    assert fact_account(key) == account
