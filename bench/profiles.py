"""Member profile store benchmarks on PostgreSQL, one part per subcommand.

    python -m bench.profiles import [--limit N] [--batch 2000] [--workers 2]
    python -m bench.profiles refresh [--members 1000000] [--transactions 10000000]

`import`: CDNOW_master.txt (69,659 purchases of 23,570 customers) converted to the CSV import
format, then `flask --app wsgi import receipts … --enrol-unknown` run as an operator runs it,
against a fresh `loyalty_bench_profiles` database migrated with `flask db upgrade` and no
Redis (the import processes every batch itself, with --workers processes in all). Timed from
the command's start to its exit, with every receipt recorded and processed by the engine; CPU
split between the import's processes and the rest of the machine (PostgreSQL); the books
checked afterwards.

`refresh`: a synthetic program of --members members and about --transactions processed
receipts made by SQL (bench/profile_data.py), then, each timed as an operator runs it:
`flask profiles refresh` (RFM, first run and the daily run), `flask clv fit`, six segments
created (evaluated at once) and `flask segments refresh`.

Both parts run pgbench TPC-B first (the machine's own yardstick), print the figures and write
bench/results/profiles-<part>-<UTC time>.json. Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import commands, profile_refresh, progress, report, stack, yardstick
from pos_adapters.csv_import import COLUMNS

CDNOW_MASTER = stack.ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"
IMPORT_TARGET_S = 30.0
STORE = "CDN"

COUNTS = {
    "transactions_processed": "SELECT count(*) FROM transactions WHERE status = 'processed'",
    "transactions": "SELECT count(*) FROM transactions",
    "members": "SELECT count(*) FROM members",
    "member_days": "SELECT count(*) FROM member_days",
}


def master_csv(source: Path, target: Path, limit: int | None = None) -> int:
    """CDNOW master in the import's format: a receipt per purchase row, the customer id as
    customer_ref, the day at noon program time, the amount as total and unit price."""
    written = 0
    with target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for line in source.read_text().splitlines()[1:]:  # past the header
            if limit is not None and written >= limit:
                break
            customer, day, _cds, amount = line.split()
            when = f"{day[:4]}-{day[4:6]}-{day[6:]}T12:00:00"
            written += 1
            writer.writerow(
                [f"CDNOW-{written}", when, customer, amount, "", "CD", "music", 1, amount]
            )
    return written


def timed_import(env: dict[str, str], path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run the import command once; wall time and where the CPU went."""
    run = commands.timed_flask(
        env, "import", "receipts", str(path), "--store", STORE, "--enrol-unknown",
        "--batch", str(args.batch), "--workers", str(args.workers), timeout=3 * 3600,
    )  # fmt: skip
    run["summary"] = [line for line in run.pop("output") if "receipts recorded" in line]
    return run


def run_import(args: argparse.Namespace) -> dict[str, Any]:
    pgbench = None if args.skip_pgbench else yardstick.pgbench_tpcb()
    stack.recreate_database(args.database)
    env = commands.environment(args.database)
    commands.flask(env, "db", "upgrade")
    commands.flask(env, "stores", "create", STORE, "CDNOW")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cdnow_master.csv"
        receipts = master_csv(CDNOW_MASTER, path, args.limit)
        figures = timed_import(env, path, args)
    counts = progress.count_rows(args.database, COUNTS)
    return {
        "part": "import",
        "options": vars(args) | {"run": None},
        "machine": report.machine(args.database),
        "pgbench": pgbench,
        "receipts": receipts,
        **figures,
        "receipts_per_s": round(receipts / figures["seconds"], 1),
        "cpu_ms_per_receipt": {
            "import_processes": round(1000 * figures["command_cpu_s"] / receipts, 2),
            "rest_of_machine": round(1000 * figures["rest_of_machine_cpu_s"] / receipts, 2),
        },
        "counts": counts,
        "integrity": progress.integrity(args.database),
        "target_s": IMPORT_TARGET_S,
    }


def import_table(results: dict[str, Any]) -> str:
    per = results["cpu_ms_per_receipt"]
    bad = {k: v for k, v in results["integrity"].items() if v}
    return "\n".join(
        [
            f"CDNOW master import: {results['receipts']} receipts in {results['seconds']} s "
            f"({results['receipts_per_s']}/s; target ≤ {results['target_s']:.0f} s)",
            f"  CPU ms per receipt: import processes {per['import_processes']}, "
            f"rest of the machine (PostgreSQL) {per['rest_of_machine']}; "
            f"machine busy {results['machine_busy_pct']}%",
            f"  {' / '.join(results['summary'])}",
            f"  counts: {results['counts']}",
            f"  pgbench TPC-B in the same run: "
            f"{results['pgbench']['tps'] if results['pgbench'] else 'skipped'} tps",
            f"  integrity: {bad or 'ok'}",
        ]
    )


PARTS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]], Callable[..., str]]] = {
    "import": (run_import, import_table),
    "refresh": (profile_refresh.run_refresh, profile_refresh.refresh_table),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__)
    parts = parser.add_subparsers(dest="part", required=True)
    imports = parts.add_parser("import", help="time the CSV import of CDNOW_master.txt")
    imports.add_argument("--database", default="loyalty_bench_profiles")
    imports.add_argument("--limit", type=int, help="only the first N purchases (a quick look)")
    imports.add_argument("--batch", type=int, default=2000, help="receipts per commit")
    imports.add_argument("--workers", type=int, default=2, help="processes of the import")
    refresh = parts.add_parser("refresh", help="time RFM, segment refresh and CLV fit")
    refresh.add_argument("--database", default="loyalty_bench_profiles")
    refresh.add_argument("--members", type=int, default=1_000_000)
    refresh.add_argument("--transactions", type=int, default=10_000_000)
    refresh.add_argument(
        "--keep-data", action="store_true", help="reuse a program of this size made before"
    )
    for part in (imports, refresh):
        part.add_argument("--skip-pgbench", action="store_true", help="no yardstick run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    run, table = PARTS[args.part]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results = run(args)
    print(table(results))
    print(f"results: {report.write_json(results, stamp, f'profiles-{args.part}')}")
    return results


if __name__ == "__main__":
    main()
