"""Core messages say what is wrong in neutral words; each edge adds how to fix it in its own terms (the CLI its flag,
the terminal app its key)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.unit.core.test_planning import DAY, NOW, details, inputs, options, plan_for
from toolkit.cli import hints as cli_hints
from toolkit.core.planning import AssetGraph, check_active_backfills, check_depends_on_past, check_root
from toolkit.errors import AfkitError, BadInput, Conflict, Remedy
from toolkit.models import Asset, Backfill, Task
from toolkit.services.backfills import check_admission
from toolkit.tui import hints as tui_hints

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def raised(call) -> AfkitError:
    with pytest.raises(AfkitError) as caught:
        call()
    return caught.value


def zero_budget_plan():
    from toolkit.models import Pool
    from toolkit.core.throttle import Amount, PoolPolicy, ThrottlePolicy

    policy = ThrottlePolicy(Amount(0), (PoolPolicy("warehouse", Amount(100, percent=True)),))
    return plan_for(inputs(tasks=(Task("t", "warehouse"),)), policy=policy,
                    pools={"warehouse": Pool("warehouse", 4, 4, 0, 0)})


CASES = {
    "asset root": lambda: check_root(details("close", backfillable=False, summary="Asset"),
                                     AssetGraph((Asset("a", "a", ("up",), ("close",)),))),
    "newest first": lambda: check_depends_on_past("d", (Task("t", "p", depends_on_past=True),),
                                                  options(reprocess="failed", order="newest")),
    "reprocess": lambda: check_depends_on_past("d", (Task("t", "p", depends_on_past=True),), options()),
    "active backfill": lambda: check_active_backfills(inputs(active_backfills=(
        Backfill(7, "d", DAY[0], DAY[2], False, 2, "none", NOW - timedelta(hours=1)),))),
    "no budget": lambda: check_admission(zero_budget_plan(), force=False),
}
WORDS = {  # remedy -> (what the CLI says, what the terminal app says)
    Remedy.DOWNSTREAM: ("--downstream", "press w"),
    Remedy.OLDEST_FIRST: ("drop --order newest", "press o"),
    Remedy.REPROCESS: ("--reprocess failed", "press e"),
    Remedy.CANCEL_ACTIVE: ("afkit backfill cancel 7", "cancel backfill 7 in Airflow"),
    Remedy.NO_BUDGET: ("--force", "afkit.toml"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_core_messages_are_neutral_and_each_edge_adds_its_own_hint(case):
    error = raised(CASES[case])
    assert isinstance(error, (BadInput, Conflict))
    assert not FLAG.search(str(error)), str(error)  # no CLI flag in the core's words
    assert error.remedy in WORDS, error.remedy
    cli_words, tui_words = WORDS[error.remedy]
    assert cli_words in error.with_hint(cli_hints.HINTS) and str(error) in error.with_hint(cli_hints.HINTS)
    assert tui_words in error.with_hint(tui_hints.HINTS) and not FLAG.search(
        error.with_hint(tui_hints.HINTS).split("only in the CLI")[0])


def test_every_remedy_has_words_at_both_edges():
    remedies = {v for k, v in vars(Remedy).items() if not k.startswith("_")}
    assert remedies == set(cli_hints.HINTS) == set(tui_hints.HINTS)


def test_plan_warnings_name_no_cli_flag():
    plan = zero_budget_plan()
    assert plan.warnings and not any(FLAG.search(w) for w in plan.warnings), plan.warnings
