"""`python -m faults` (`make faults`): the fault cases, one table, an exit code.

    python -m faults [--only NAME ...] [--repeat N] [--keep-logs]

One throwaway cluster, the fake endpoint and two replicas serve every case in
turn; each case uses owners of its own and is checked by SQL once its load has
stopped and the leases it may have left had time to lapse. Exits 1 when any
check of any case fails.
"""

import argparse
import sys
import time

import uvloop

from faults.cases import CASES, Outcome
from faults.checks import Verdict, verify
from faults.ledger import FORBIDDEN, Ledger
from faults.report import table
from faults.stack import LEASE_SECONDS, Stack, stack

COLUMNS = [
    "case",
    "calls by code",
    "acknowledged",
    "lost",
    "duplicated",
    "leases left",
    "unsettled",
    "log errors",
    "seconds",
    "verdict",
]


def _log_errors(stack: Stack) -> int:
    """Tracebacks and ERROR lines in every replica's log so far."""
    text = "".join(stack.log_of(replica) for replica in stack.replicas)
    return text.count("Traceback") + text.count(" ERROR ")


async def _ready(stack: Stack) -> None:
    """Every replica serving and the database up, as a case expects to find them."""
    await stack.admin_until_up()
    for replica in stack.replicas:
        if not replica.alive:
            await stack.restart(replica)


async def run_case(
    stack: Stack, name: str
) -> tuple[list[object], bool, Outcome, Verdict | None, Ledger]:
    await _ready(stack)
    ledger = Ledger()
    outcome = Outcome()
    errors = _log_errors(stack)
    deadlocks = stack.cluster.log().count("deadlock detected")
    began = time.monotonic()
    verdict: Verdict | None = None
    try:
        await CASES[name](stack, ledger, outcome)
        verdict = await verify(stack, ledger)
    except Exception as error:  # the harness's own failure: shown, and the run fails
        outcome.failures.append(f"harness error: {error!r}")
    seconds = time.monotonic() - began
    if deadlocks := stack.cluster.log().count("deadlock detected") - deadlocks:
        outcome.notes.append(f"PostgreSQL detected {deadlocks} deadlocks (its log says which)")
    forbidden = [code for code in ledger.codes if code in FORBIDDEN]
    passed = verdict is not None and verdict.passed and not forbidden and not outcome.failures
    row: list[object] = [
        name,
        ledger.codes_text(),
        ledger.acknowledged,
        "–" if verdict is None else len(verdict.lost),
        "–" if verdict is None else len(verdict.duplicated),
        "–" if verdict is None else verdict.leases_left,
        "–" if verdict is None else verdict.unsettled,
        _log_errors(stack) - errors,
        f"{seconds:.1f}",
        "ok" if passed else "FAILED",
    ]
    return row, passed, outcome, verdict, ledger


def _details(name: str, outcome: Outcome, verdict: Verdict | None, ledger: Ledger) -> list[str]:
    lines = [f"{name}: {note}" for note in outcome.notes]
    if verdict is not None and verdict.settled:
        lines.append(
            f"{name}: {verdict.settled} replies IN_PROGRESS with a lapsed lease, settled by Get"
        )
    if ledger.reasons:
        failed = ", ".join(f"{key} {count}" for key, count in sorted(ledger.reasons.items()))
        lines.append(f"{name}: failed calls: {failed}")
    problems = [*outcome.failures, *ledger.forbidden]
    if verdict is not None:
        problems += verdict.lost + verdict.duplicated
        if verdict.leases_left:
            problems.append(f"{verdict.leases_left} leases outlived {LEASE_SECONDS:g} s")
    lines += [f"{name}: FAILED: {problem}" for problem in problems[:20]]
    return lines


async def main(names: list[str], keep_logs: bool) -> int:
    began = time.monotonic()
    rows: list[list[object]] = []
    details: list[str] = []
    failed = False
    async with stack(keep_logs=keep_logs) as built:
        setup = time.monotonic() - began
        for name in names:
            row, passed, outcome, verdict, ledger = await run_case(built, name)
            print(f"{name}: {'ok' if passed else 'FAILED'} in {row[-2]} s", file=sys.stderr)
            rows.append(row)
            details += _details(name, outcome, verdict, ledger)
            failed |= not passed
        built.keep_logs |= failed
    took = time.monotonic() - began
    print(f"\nfaults: {len(names)} cases, {took:.0f} s in all ({setup:.0f} s to start)")
    print(table(COLUMNS, rows))
    print("\n".join(details))
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument("--only", action="append", choices=list(CASES), help="run only this case")
    parser.add_argument("--repeat", type=int, default=1, help="run each case this many times")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args()
    names = [name for name in args.only or list(CASES) for _ in range(args.repeat)]
    sys.exit(uvloop.run(main(names, args.keep_logs)))
