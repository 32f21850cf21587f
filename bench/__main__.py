"""`python -m bench` (`make bench`): every benchmark in turn, one table each, and
`bench/results/latest.json`.

    python -m bench                     # all of them
    python -m bench --skip-list-scale   # all but one
    python -m bench --only unary        # just one

Each benchmark provisions its own throwaway database (`SESSIONS_BENCH_DATABASE_URL`,
else the machine's PostgreSQL, else an embedded one) and its own server processes.
"""

import argparse
import time
from collections.abc import Callable
from types import ModuleType

from bench import attach, history, list_scale, send_stream, unary, watch_memory
from bench.common import Report

BENCHES: list[ModuleType] = [send_stream, unary, list_scale, history, watch_memory, attach]


def _flag(name: str) -> str:
    return name.replace("_", "-")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = [bench.NAME for bench in BENCHES]
    for name in names:
        parser.add_argument(f"--skip-{_flag(name)}", action="store_true", help=f"skip {name}")
    parser.add_argument("--only", choices=names, action="append", help="run only these")
    args = parser.parse_args()
    report = Report()
    for bench in BENCHES:
        if getattr(args, f"skip_{bench.NAME}") or (args.only and bench.NAME not in args.only):
            continue
        started = time.monotonic()
        print(f"== {bench.NAME}", flush=True)
        run: Callable[[Report], None] = bench.run
        run(report)
        print(f"== {bench.NAME}: {time.monotonic() - started:.0f} s", flush=True)
    print(f"results in {report.write()}")


main()
