"""Receipts per second fully processed, and till latency, against the service as deployed.

    python -m bench.earn [--duration 30] [--clients 16] [--workers 3] [--worker-class sync] …

One run: pgbench TPC-B as the yardstick; a fresh `loyalty_bench` database migrated with
`flask db upgrade`; stores, one terminal key per till and members made through the services;
gunicorn (`wsgi:app`) and `flask --app wsgi worker` started against PostgreSQL and Redis;
then N tills post receipts for a fixed time (closed loop) until every receipt is processed,
and `/cards/resolve` and `/redemptions` are driven open-loop at a fixed rate. Prints a table
and writes the JSON to bench/results/. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from bench import campaign_mix, cpu, fixtures, load, progress, report, scenarios, stack
from bench.yardstick import run_pgbench


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.earn", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=30, help="receipt phase, seconds")
    p.add_argument("--clients", type=int, default=16, help="concurrent tills posting receipts")
    p.add_argument("--members", type=int, default=2000)
    p.add_argument("--stores", type=int, default=4)
    p.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    p.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    p.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    p.add_argument("--rq-workers", type=int, default=1, help="`flask worker` processes")
    p.add_argument("--rate", type=float, default=100, help="open-loop requests per second")
    p.add_argument("--latency-duration", type=float, default=20, help="seconds per endpoint")
    p.add_argument("--drain-timeout", type=float, default=300, help="max wait for processing")
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--pgbench-clients", type=int, default=8)
    p.add_argument("--pgbench-threads", type=int, default=2)
    p.add_argument("--pgbench-duration", type=int, default=30)
    p.add_argument("--skip-pgbench", action="store_true")
    p.add_argument("--database", default="loyalty_bench")
    p.add_argument("--pgbench-database", default="loyalty_bench_pgbench")
    p.add_argument("--redis-db", type=int, default=3)
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--profile", action="store_true", help="py-spy the receipt phase")
    p.add_argument("--batch-clients", type=int, default=4, help="tills posting batches")
    p.add_argument("--batch-size", type=int, default=500, help="receipts per batch")
    p.add_argument("--batch-duration", type=float, default=30, help="batch phase, seconds")
    p.add_argument(
        "--phases",
        default="receipts,batches,latency,streaming,connections",
        help="which phases, in order: receipts, batches, latency, streaming, connections",
    )
    p.add_argument("--stream-rate", type=float, default=500, help="streaming phase: receipts/s")
    p.add_argument("--stream-batch", type=int, default=50, help="streaming phase: a batch's size")
    p.add_argument(
        "--connections", type=int, default=1500, help="concurrent connections to card resolve"
    )
    p.add_argument(
        "--campaigns", type=int, default=0,
        help="live transaction.recorded campaigns (the mix of bench/campaign_mix.py)",
    )  # fmt: skip
    return p.parse_args(argv)


def receipts_phase(
    args: argparse.Namespace, program: fixtures.Program, running: stack.Running, run_id: str
) -> dict[str, Any]:
    """N tills post receipts for `duration` s; then wait until every one is processed."""
    monitor = progress.Monitor(args.database)
    speed_before = report.python_cpu_ms()
    before = cpu.sample(cpu.groups_of(running, args.database))
    started_wall, t0 = datetime.now(UTC), time.monotonic()
    monitor.start(t0)
    with profiling(args, running, run_id):
        tally, elapsed = load.closed_loop(
            args.port,
            args.clients,
            args.duration,
            lambda i: scenarios.receipt_sender(program, run_id, i),
        )
    at_end = monitor.samples[-1] if monitor.samples else (elapsed, 0, 0)
    done = progress.wait_processed(args.database, args.drain_timeout)
    monitor.stop()
    figures = receipt_figures(tally, elapsed, started_wall, done, at_end, monitor.samples)
    after = cpu.sample(cpu.groups_of(running, args.database))
    figures["cpu_per_receipt"] = cpu.breakdown(before, after, done.processed)
    figures["gunicorn_cpu_s_by_process"] = cpu.spread(before, after, "gunicorn")
    figures["python_loop_cpu_ms_before_after"] = [speed_before, report.python_cpu_ms()]
    return figures


def batches_phase(
    args: argparse.Namespace, program: fixtures.Program, running: stack.Running, run_id: str
) -> dict[str, Any]:
    """N tills post batches of `batch_size` receipts for `batch_duration` s; then wait until
    every receipt is processed. The rate counts this phase's receipts only."""
    before_counts = progress.wait_processed(args.database, args.drain_timeout)
    before = cpu.sample(cpu.groups_of(running, args.database))
    started_wall = datetime.now(UTC)
    tally, elapsed = load.closed_loop(
        args.port,
        args.batch_clients,
        args.batch_duration,
        lambda i: scenarios.batch_sender(program, run_id, i, args.batch_size),
        ok=200,
    )
    done = progress.wait_processed(args.database, args.drain_timeout)
    after = cpu.sample(cpu.groups_of(running, args.database))
    processed = done.processed - before_counts.processed
    finished = done.last_processed_at or started_wall
    span = max((finished - started_wall).total_seconds(), elapsed)
    return {
        "clients": args.batch_clients,
        "batch_size": args.batch_size,
        "clients_elapsed_s": round(elapsed, 2),
        "statuses": dict(tally.statuses),
        "recorded_per_s": round((done.recorded - before_counts.recorded) / elapsed, 1),
        "processed": processed,
        "all_processed": done.processed == done.recorded,
        "processed_span_s": round(span, 2),
        "processed_per_s": round(processed / span, 1),
        "batch_latency_ms": load.summary_ms(tally.latencies),
        "cpu_per_receipt": cpu.breakdown(before, after, processed),
    }


def receipt_figures(
    tally: load.Tally,
    elapsed: float,
    started: datetime,
    done: progress.Counts,
    at_end: tuple[float, int, int],
    samples: list[tuple[float, int, int]],
) -> dict[str, Any]:
    created = tally.statuses.get(201, 0)
    finished = done.last_processed_at or started
    span = max((finished - started).total_seconds(), elapsed)
    return {
        "clients_elapsed_s": round(elapsed, 2),
        "statuses": dict(tally.statuses),
        "ingested_per_s": round(created / elapsed, 1),
        "recorded": done.recorded,
        "processed": done.processed,
        "all_processed": done.processed == done.recorded,
        "processed_span_s": round(span, 2),
        "processed_per_s": round(done.processed / span, 1),
        "backlog_at_end_of_load": at_end[1] - at_end[2],
        "worker_per_s_during_load": round(at_end[2] / max(at_end[0], 0.001), 1),
        "latency_ms": load.summary_ms(tally.latencies),
        "timeline": samples,
    }


def latency_phase(
    args: argparse.Namespace, running: stack.Running, send: load.Send
) -> dict[str, Any]:
    """`rate` requests per second for `latency_duration` s, on a fixed schedule."""
    before = cpu.sample(cpu.groups_of(running, args.database))
    tally = load.open_loop(args.port, args.rate, args.latency_duration, send)
    after = cpu.sample(cpu.groups_of(running, args.database))
    return {
        "rate": args.rate,
        "duration_s": args.latency_duration,
        "statuses": dict(tally.statuses),
        "latency_ms": load.summary_ms(tally.latencies),
        "cpu_per_request": cpu.breakdown(before, after, sum(tally.statuses.values())),
        "gunicorn_cpu_s_by_process": cpu.spread(before, after, "gunicorn"),
    }


def streaming_phase(
    args: argparse.Namespace, program: fixtures.Program, running: stack.Running, run_id: str
) -> dict[str, Any]:
    """Receipts stream at `stream_rate`/s (batches of `stream_batch`, on a fixed schedule)
    while tills resolve, quote and redeem at `rate`/s each, for `latency_duration` s."""
    funded = min(FUNDED, len(program.shoppers))
    work = {
        "stream": (args.stream_rate / args.stream_batch,
                   scenarios.batch_sender(program, run_id, 0, args.stream_batch)),
        "resolve": (args.rate, scenarios.resolve_sender(program)),
        "quote": (args.rate, scenarios.quote_sender(program)),
        "redeem": (args.rate, scenarios.redeem_sender(program, funded, 1)),
    }  # fmt: skip
    tallies: dict[str, load.Tally] = {}

    def run(name: str) -> None:
        rate, send = work[name]
        tallies[name] = load.open_loop(args.port, rate, args.latency_duration, send, senders=8)

    before = cpu.sample(cpu.groups_of(running, args.database))
    load.run_threads([threading.Thread(target=run, args=(name,)) for name in work])
    after = cpu.sample(cpu.groups_of(running, args.database))
    done = progress.wait_processed(args.database, args.drain_timeout)
    return {
        "stream_rate": args.stream_rate,
        "stream_batch": args.stream_batch,
        "rate": args.rate,
        "duration_s": args.latency_duration,
        "all_processed": done.processed == done.recorded,
        "cpu_ms_in_phase": cpu.breakdown(before, after, 1),
        **{
            name: {"statuses": dict(t.statuses), "latency_ms": load.summary_ms(t.latencies)}
            for name, t in tallies.items()
        },
    }


def connections_phase(args: argparse.Namespace, program: fixtures.Program) -> dict[str, Any]:
    """`connections` tills' connections open at once, each resolving a card at the same moment:
    how many were answered within 1 s, and the latencies."""
    tally = load.burst(args.port, args.connections, scenarios.resolve_sender(program))
    answered = sorted(tally.latencies)
    return {
        "connections": args.connections,
        "statuses": dict(tally.statuses),
        "within_1s": sum(1 for latency in answered if latency <= 1.0),
        "latency_ms": load.summary_ms(answered),
    }


class profiling:
    """With --profile, py-spy records the RQ worker and the gunicorn workers meanwhile."""

    def __init__(self, args: argparse.Namespace, running: stack.Running, run_id: str) -> None:
        self.enabled, self.running, self.run_id = args.profile, running, run_id
        self.duration, self.processes = int(args.duration), []

    def __enter__(self) -> None:
        if not self.enabled:
            return
        from bench.profile import start_py_spy

        targets = {"rq-worker": self.running.workers[0].pid}
        for i, pid in enumerate(self.running.gunicorn_worker_pids()):
            targets[f"gunicorn-{i + 1}"] = pid
        self.processes = [
            start_py_spy(pid, report.RESULTS / f"{self.run_id}-{name}", self.duration)
            for name, pid in targets.items()
        ]

    def __exit__(self, *_exc: object) -> None:
        for process in self.processes:
            process.wait(timeout=self.duration + 60)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {"started_at": stamp, "options": vars(args)}
    if not args.skip_pgbench:
        print("pgbench TPC-B …", flush=True)
        results["pgbench"] = run_pgbench(
            args.pgbench_database, args.pgbench_scale, args.pgbench_clients,
            args.pgbench_threads, args.pgbench_duration,
        ).as_dict()  # fmt: skip
    config = service_config(args)
    program = prepare(args, config)
    results["machine"] = report.machine(args.database)
    results["service"] = {
        "gunicorn": " ".join(stack.gunicorn_command(config)[2:]),
        "worker": " ".join(stack.worker_command()[2:]),
        "rq_workers": args.rq_workers,
    }
    phases = args.phases.split(",")
    with stack.running_service(config, report.RESULTS / f"logs-{stamp}") as running:
        if "receipts" in phases:
            print(f"receipts: {args.clients} tills for {args.duration:.0f} s …", flush=True)
            results["receipts"] = receipts_phase(args, program, running, f"B{stamp}")
        if "batches" in phases:
            print(f"batches: {args.batch_clients} tills, {args.batch_size} a batch …", flush=True)
            results["batches"] = batches_phase(args, program, running, f"K{stamp}")
        if "latency" in phases:
            print(f"resolve and redeem at {args.rate:.0f}/s …", flush=True)
            results["resolve"] = latency_phase(args, running, scenarios.resolve_sender(program))
            funded = min(FUNDED, len(program.shoppers))
            results["redeem"] = latency_phase(
                args, running, scenarios.redeem_sender(program, funded, 1)
            )
        if "streaming" in phases:
            print(f"resolve, quote and redeem at {args.rate:.0f}/s each while receipts stream "
                  f"at {args.stream_rate:.0f}/s …", flush=True)  # fmt: skip
            results["streaming"] = streaming_phase(args, program, running, f"S{stamp}")
        if "connections" in phases:
            print(f"{args.connections} connections resolving at once …", flush=True)
            results["connections"] = connections_phase(args, program)
        if "batches" in phases:  # the analytics rollups over what the phases wrote
            receipts = progress.wait_processed(args.database, args.drain_timeout).processed
            rolled = stack.roll_up(config)
            rolled["receipts"] = receipts
            per = 1000 / max(receipts, 1)
            rolled["ms_per_receipt"] = {
                k: round(v * per, 3) for k, v in rolled.items() if k != "receipts"
            }
            results["analytics_roll_up"] = rolled
            print(f"analytics roll-up: {rolled}", flush=True)
    results["integrity"] = progress.integrity(args.database)
    print(report.table(results))
    print(f"results: {report.write_json(results, stamp)}")
    return results


FUNDED, OPENING_POINTS = 500, 100_000
CAMPAIGN_RECEIPTS = 50_000  # what the mix's budgets are sized for


def service_config(args: argparse.Namespace) -> stack.ServiceConfig:
    return stack.ServiceConfig(
        database=args.database,
        redis_db=args.redis_db,
        port=args.port,
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        rq_workers=args.rq_workers,
        secret_key=secrets.token_urlsafe(32),
    )


def prepare(args: argparse.Namespace, config: stack.ServiceConfig) -> fixtures.Program:
    """A fresh database, migrated, with the program; an empty Redis database."""
    print(f"preparing {args.database}: {args.members} members …", flush=True)
    stack.recreate_database(args.database)
    stack.flush_redis(args.redis_db)
    stack.migrate(config)
    funded = min(FUNDED, args.members)
    program = fixtures.build_program(
        stack.sqlalchemy_url(args.database), args.stores, args.clients, args.members,
        funded, OPENING_POINTS,
    )  # fmt: skip
    stack.roll_up(config)  # the rollups' first run counts the members; later ones add
    if args.campaigns:
        codes = fixtures.store_codes(args.stores)
        docs = campaign_mix.campaign_docs(args.campaigns, codes, CAMPAIGN_RECEIPTS)
        campaign_mix.launch(stack.sqlalchemy_url(args.database), docs)
    return program


if __name__ == "__main__":
    main()
