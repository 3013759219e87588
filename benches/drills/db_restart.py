#!/usr/bin/env python3
"""Fault drill 3: PostgreSQL is restarted under load; the app must recover by itself.

The drill starts its own PostgreSQL cluster in a temporary folder (as
.ci/run does: initdb as the `postgres` user, trust auth, fsync off), loads
the demo data (`aftercare demo`), makes an API token, starts one `aftercare
serve` on it (the outbox-sender job every 10 s, so jobs touch the database
too), signs in through the login form, and runs a load of --workers threads
that GET without pause, each route from threads of its own (so a route that
hangs does not starve the others):
    /healthz            (no database)
    /readyz             (SELECT 1; 503 while the database is away)
    /board              (signed in: session lookup and the deals)
    /api/v1/deals       (bearer token)
After --before seconds it runs `pg_ctl restart -m fast` (with --down N:
`pg_ctl stop -m fast`, N seconds, `pg_ctl start`), keeps the load going for
--after seconds more, then reports per route the requests before, around
and after the restart, the error window (first failed request to the end of
the last one), how long after the database was back requests succeeded
again, a per-second timeline, and the outbox-sender runs after the restart.

PASS when the `aftercare serve` process is the same one throughout (it is
never restarted), every route succeeds again within --max-window seconds
(default 30) of PostgreSQL being back and keeps succeeding until the end,
and a scheduled outbox-sender run completes after the restart.

Takes about a minute with the defaults.

    python3 benches/drills/db_restart.py
    python3 benches/drills/db_restart.py --down 15 --after 60
"""

import argparse
import collections
import os
import statistics
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
import common  # noqa: E402
from common import log  # noqa: E402

ADMIN = "admin@demo.aftercare.test"
PASSWORD = "aftercare-demo"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=common.DEFAULT_BINARY, help="the aftercare binary (default: %(default)s)")
    parser.add_argument("--build", action="store_true", help="run `cargo build --release` first")
    parser.add_argument("--workers", type=int, default=8,
                        help="load threads, shared out evenly among the four routes (default %(default)s)")
    parser.add_argument("--request-timeout", type=float, default=15.0,
                        help="seconds before a request counts as failed (default %(default)s)")
    parser.add_argument("--before", type=float, default=10.0, help="seconds of load before the restart (default 10)")
    parser.add_argument("--after", type=float, default=40.0,
                        help="seconds of load after PostgreSQL is back (default 40)")
    parser.add_argument("--down", type=float, default=0.0,
                        help="instead of `pg_ctl restart`, stop PostgreSQL for this many seconds, then start it")
    parser.add_argument("--mode", default="fast", choices=["smart", "fast", "immediate"],
                        help="pg_ctl shutdown mode (default %(default)s)")
    parser.add_argument("--max-window", type=float, default=30.0,
                        help="FAIL unless every route succeeds again within this many seconds of PostgreSQL "
                             "being back (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    return parser.parse_args()


class Load:
    """Worker threads GETting the routes without pause, every request
    recorded. Each route has threads of its own, so a route that hangs
    while the database is away does not hold up the others."""

    def __init__(self, port, routes, workers, timeout):
        self.port, self.routes, self.timeout = port, routes, timeout
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.records = []  # (start, end, route, ok, detail)
        per_route = max(1, workers // len(routes))
        self.threads = [threading.Thread(target=self.work, args=(route,), daemon=True)
                        for route in routes for _ in range(per_route)]

    def work(self, route):
        name, path, headers = route
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                status, _ = common.http_get(self.port, path, headers, timeout=self.timeout)
                ok, detail = status == 200, str(status)
            except Exception as error:  # refused, reset, timed out ...
                ok, detail = False, type(error).__name__
            end = time.monotonic()
            with self.lock:
                self.records.append((start, end, name, ok, detail))
            if not ok:
                time.sleep(0.05)  # a failing route is not hammered in a tight loop

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=self.timeout + 5)


def longest_gap(rows, since):
    """The longest time without a successful response among `rows` from
    `since` on: (length, from, to) by completion times."""
    times = [since] + [r[1] for r in rows if r[3] and r[1] >= since]
    best = (0.0, since, since)
    for a, b in zip(times, times[1:]):
        if b - a > best[0]:
            best = (b - a, a, b)
    return best


def run(args, res):
    began = time.monotonic()
    workdir = res.tempdir("aftercare-drill-db.")
    binary = common.prepare_binary(res, args.binary, args.build, workdir)
    cluster = common.PgCluster(res)
    common.psql(cluster.url(), "CREATE DATABASE aftercare")
    url = cluster.url("aftercare")
    log(f"PostgreSQL {cluster.bin} on 127.0.0.1:{cluster.port} in {cluster.dir} (postmaster pid {cluster.pid()})")
    log("  " + common.cli(binary, url, ["demo"], workdir).splitlines()[0])
    token = common.cli(binary, url, ["token", "create", "--email", ADMIN, "--name", "drill"], workdir).splitlines()[-1]

    app = common.Instance(res, binary, url, workdir, "drill-db", {"AFTERCARE_SCHEDULE_OUTBOX_SENDER": "*/10 * * * * *"})
    app.wait_ready()
    cookie = common.sign_in(app.port, ADMIN, PASSWORD)
    routes = [
        ("healthz", "/healthz", {}),
        ("readyz", "/readyz", {}),
        ("board", "/board", {"Cookie": cookie}),
        ("api/deals", "/api/v1/deals", {"Authorization": f"Bearer {token}"}),
    ]
    for name, path, headers in routes:
        status, _ = common.http_get(app.port, path, headers)
        if status != 200:
            return common.verdict(False, f"GET {path} answered {status} before any fault")
    log(f"aftercare serve pid {app.pid} on :{app.port}; load: {args.workers} threads on "
        + ", ".join(path for _, path, _ in routes))

    with Load(app.port, routes, args.workers, args.request_timeout) as load:
        time.sleep(args.before)
        old_postmaster = cluster.pid()
        t_r0, wall_r0 = time.monotonic(), time.time()
        if args.down > 0:
            cluster.stop(args.mode)
            log(f"pg_ctl stop -m {args.mode} took {time.monotonic() - t_r0:.2f} s; down for {args.down:.0f} s")
            time.sleep(args.down)
            cluster.start()
        else:
            cluster.restart(args.mode)
        t_r1, wall_r1 = time.monotonic(), time.time()
        log(f"PostgreSQL {'stopped and started' if args.down else 'restarted (pg_ctl restart -m ' + args.mode + ')'}: "
            f"{t_r1 - t_r0:.2f} s, postmaster pid {old_postmaster} -> {cluster.pid()}")
        time.sleep(args.after)
    t_end = time.monotonic()
    records = sorted(load.records)

    same_process = app.alive()
    # The outbox-sender ticks every 10 s: give a short --after time for one.
    wait_until = time.monotonic() + 25
    while True:
        runs = common.psql(url, "SELECT outcome, count(*) FROM job_runs WHERE job = 'outbox-sender' AND "
                                f"started_at >= to_timestamp({wall_r1}) AND finished_at IS NOT NULL GROUP BY 1")
        runs = {outcome: int(n) for outcome, n in runs}
        if runs.get("ok", 0) > 0 or time.monotonic() > wait_until:
            break
        time.sleep(1)
    runs_during = common.psql(url, "SELECT outcome, count(*) FROM job_runs WHERE job = 'outbox-sender' AND "
                                   f"started_at >= to_timestamp({wall_r0 - 10}) AND started_at < to_timestamp({wall_r1}) "
                                   "GROUP BY 1")
    job_errors = app.log_lines("job run failed", last=3) + app.log_lines("job failed", last=3)
    db_errors = len(app.log_lines("ERROR", last=10**9)) + len(app.log_lines("WARN", last=10**9))

    print()
    print(f"requests per route, ok/total (times relative to the restart command at 0 s; "
          f"PostgreSQL back at {t_r1 - t_r0:+.2f} s)")
    print(f"  {'route':<10} {'before':>11} {'around':>11} {'after':>11}  {'failed requests':<30} "
          f"{'no success from .. to':<26} {'ok after back':>13}  {'ms p50 before':>13}  {'max ms around':>13}")
    problems = []
    overall_first, overall_last, worst_gap = None, None, (0.0, None, None)
    for name, path, _ in routes:
        mine = [r for r in records if r[2] == name]
        fails = [r for r in mine if not r[3]]

        def tally(rows):
            return f"{sum(1 for r in rows if r[3])}/{len(rows)}"

        before = [r for r in mine if r[1] < t_r0]
        after_window = [r for r in mine if r[0] >= t_r1 + args.max_window]
        around = [r for r in mine if r[1] >= t_r0 and r[0] < t_r1 + args.max_window]
        kinds = collections.Counter(r[4] for r in fails)
        if fails:
            first, last = fails[0][0], max(r[1] for r in fails)
            overall_first = first if overall_first is None else min(overall_first, first)
            overall_last = last if overall_last is None else max(overall_last, last)
            failed = f"{len(fails)} ({', '.join(f'{k} x{v}' for k, v in kinds.most_common())})"
        else:
            failed = "0"
        last_ok_before = max((r[1] for r in before if r[3]), default=t_r0)
        gap, gap_from, gap_to = longest_gap(mine, last_ok_before)
        if gap > worst_gap[0] and name != "healthz":
            worst_gap = (gap, gap_from, gap_to)
        gap_text = f"{gap:.2f} s ({gap_from - t_r0:+.2f} .. {gap_to - t_r0:+.2f})"
        back = gap_to - t_r1
        if gap_to > t_r1 + args.max_window:
            problems.append(f"{path} had no successful response until {back:.0f} s after PostgreSQL was back")
        late_failures = [r for r in after_window if not r[3]]
        if late_failures:
            problems.append(f"{path} still failed {len(late_failures)} times after {args.max_window:.0f} s")
        if not after_window:
            problems.append(f"no requests to {path} after the {args.max_window:.0f} s window")
        lat_before = [(r[1] - r[0]) * 1000 for r in before] or [0]
        lat_around = [(r[1] - r[0]) * 1000 for r in around] or [0]
        print(f"  {name:<10} {tally(before):>11} {tally(around):>11} {tally(after_window):>11}  {failed:<30} "
              f"{gap_text:<26} {(f'{back:+.2f} s' if gap_to >= t_r1 and (fails or gap >= 1) else '-'):>13}  {statistics.median(lat_before):>13.1f}  {max(lat_around):>13.0f}")
    print(f"  ('around': from the restart command to {args.max_window:.0f} s after PostgreSQL was back; "
          "'after': the rest; 'no success': the longest time between two successful responses from the last "
          "one before the restart on)")

    print()
    print("per second around the restart (requests finished ok/failed)")
    hi = int(max(overall_last or t_r1, t_r1) - t_r0) + 3
    for second in range(-2, hi + 1):
        rows = [r for r in records if second <= r[1] - t_r0 < second + 1]
        ok = sum(1 for r in rows if r[3])
        marks = " <- restart command" if second == 0 else ""
        if second <= t_r1 - t_r0 < second + 1:
            marks += " <- PostgreSQL back"
        print(f"  {second:+4d} s  {ok:5d} ok {len(rows) - ok:5d} failed{marks}")

    print()
    window = (overall_last - overall_first) if overall_first is not None else 0.0
    print("figures")
    print(f"  requests                 {len(records)} in {t_end - t_r0 + args.before:.0f} s "
          f"({sum(1 for r in records if not r[3])} failed)")
    print(f"  database away            {t_r1 - t_r0:.2f} s ({'stop/start' if args.down else 'restart'} -m {args.mode})")
    print(f"  error window             {window:.2f} s" + (f" (failed requests from {overall_first - t_r0:+.2f} s to "
                                                           f"{overall_last - t_r0:+.2f} s)" if overall_first else ""))
    if worst_gap[1] is not None:
        print(f"  longest without success  {worst_gap[0]:.2f} s on a database route "
              f"({worst_gap[1] - t_r0:+.2f} .. {worst_gap[2] - t_r0:+.2f} s), "
              f"ok again {worst_gap[2] - t_r1:+.2f} s after PostgreSQL was back")
    print(f"  aftercare serve          pid {app.pid}, " + ("still the same process" if same_process else "EXITED"))
    print(f"  outbox-sender runs       around the restart: "
          + (", ".join(f"{o} {n}" for o, n in runs_during) or "none")
          + "; started after it: " + (", ".join(f"{o} {n}" for o, n in sorted(runs.items())) or "none"))
    print(f"  app log                  {db_errors} WARN/ERROR lines")
    for line in job_errors[:3]:
        print(f"    {line[:200]}")
    print(f"  total                    {time.monotonic() - began:.0f} s")
    print()

    if not same_process:
        problems.insert(0, f"aftercare serve exited (see {app.log_path})")
    if runs.get("ok", 0) == 0:
        problems.append("no outbox-sender run completed after the restart")
    summary = (f"{len(records)} requests, {sum(1 for r in records if not r[3])} failed, error window {window:.1f} s, "
               f"longest without success {worst_gap[0]:.1f} s, database away {t_r1 - t_r0:.1f} s; same process; "
               f"{runs.get('ok', 0)} outbox-sender runs ok after the restart")
    if problems:
        return common.verdict(False, "; ".join(problems))
    return common.verdict(True, summary)


def main():
    return common.drill(parse_args(), run)


if __name__ == "__main__":
    sys.exit(main())
