#!/usr/bin/env python3
"""Benchmarks the metrics API against the same aggregate in the database's own CLI.

For each size it generates a SQLite database with `aftercare demo --deals N`
(or, with --pg-url, a fresh PostgreSQL database on that server), starts
`aftercare serve` on it (no demo, no jobs), and times:
  - GET /api/v1/metrics/promise-kept (overall and grouped by wave),
  - GET /api/v1/metrics/pipeline,
  - GET /dashboard (signed in): its first view, which renders the stored
    snapshot, once, then the median of later views; GET /healthz as the floor,
against the same promise-kept aggregate run by the `sqlite3` command-line
tool on the same file (`.timer on`), or by `psql` on the same database
(`\\timing on`). It prints the median of several runs and the server's peak
memory (VmHWM). Run on demand, not in CI:

    python3 benches/metrics.py                # 10 000 and 100 000 deals, SQLite
    python3 benches/metrics.py --sizes 10000  # just one size
    python3 benches/metrics.py --pg-url postgres://postgres@127.0.0.1:55432/postgres
    python3 benches/metrics.py --binary /tmp/aftercare   # a prebuilt binary, no build

Needs a release build (it runs `cargo build --release` first, unless
--no-build or --binary) and the sqlite3 CLI (`apt-get install sqlite3`), or
psql for --pg-url. On PostgreSQL each size gets its own database,
bench_metrics_<pid>_<size>, dropped at the end.
"""

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "aftercare")

# The aggregate behind the overall promise-kept rate, as a person would write it.
RAW_KEPT = (
    "SELECT a.verdict, COUNT(*) FROM survey_answers a "
    "JOIN surveys s ON s.id = a.survey_id "
    "JOIN promises p ON p.id = a.promise_id "
    "JOIN deals d ON d.id = p.deal_id "
    "WHERE s.answered_at IS NOT NULL GROUP BY a.verdict;"
)
RAW_KEPT_BY_WAVE = (
    "SELECT w.wave_months, a.verdict, COUNT(*) FROM survey_answers a "
    "JOIN surveys s ON s.id = a.survey_id "
    "JOIN promises p ON p.id = a.promise_id "
    "LEFT JOIN (SELECT survey_id, deal_id, MIN(wave_months) AS wave_months FROM survey_waves "
    "           WHERE survey_id IS NOT NULL GROUP BY survey_id, deal_id) w "
    "       ON w.survey_id = a.survey_id AND w.deal_id = p.deal_id "
    "WHERE s.answered_at IS NOT NULL GROUP BY 1, 2;"
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median_ms(action, runs):
    action()  # warm up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def sqlite_ms(path, sql, runs):
    times = []
    for _ in range(runs + 1):
        out = subprocess.run(
            ["sqlite3", path], input=".timer on\n" + sql + "\n", capture_output=True, text=True, check=True
        ).stdout
        match = re.search(r"Run Time: real ([0-9.]+)", out)
        times.append(float(match.group(1)) * 1000)
    return statistics.median(times[1:])


def psql_ms(url, sql, runs):
    """Like sqlite_ms, with psql's `\\timing` (the statement's round trip)."""
    times = []
    for _ in range(runs + 1):
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url],
            input="\\timing on\n" + sql + "\n", capture_output=True, text=True, check=True,
        ).stdout
        match = re.search(r"Time: ([0-9.]+) ms", out)
        times.append(float(match.group(1)))
    return statistics.median(times[1:])


def psql_admin(url, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql], capture_output=True,
                   text=True, check=True)


def with_database(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench(size, runs, work, pg_url=None):
    if pg_url:
        name = f"bench_metrics_{os.getpid()}_{size}"
        psql_admin(pg_url, f'CREATE DATABASE "{name}"')
        url = with_database(pg_url, name)
        print(f"  database {name} on {urllib.parse.urlsplit(pg_url).netloc}")
        raw_ms, raw_name = (lambda sql: psql_ms(url, sql, runs)), "psql"
    else:
        db = os.path.join(work, f"bench-{size}.db")
        url = f"sqlite://{db}"
        raw_ms, raw_name = (lambda sql: sqlite_ms(db, sql, runs)), "sqlite3 CLI"
    try:
        run_bench(size, runs, work, url, raw_ms, raw_name)
    finally:
        if pg_url:
            psql_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_bench(size, runs, work, url, raw_ms, raw_name):
    env = dict(os.environ, AFTERCARE_DATABASE_URL=url, AFTERCARE_OUTBOX_DIR=os.path.join(work, "outbox"), AFTERCARE_LOG="warn")
    start = time.perf_counter()
    generated = subprocess.run([BINARY, "demo", "--deals", str(size)], env=env, capture_output=True, text=True, check=True)
    print(f"  {generated.stdout.strip()} (wall {time.perf_counter() - start:.1f} s)")
    token = subprocess.run(
        [BINARY, "token", "create", "--email", "admin@demo.aftercare.test", "--name", "bench"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--no-demo", "--no-jobs"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"aftercare serve exited with {server.returncode}")
                time.sleep(0.1)
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = urllib.parse.urlencode({"email": "admin@demo.aftercare.test", "password": "aftercare-demo"}).encode()
        browser.open(base + "/login", data=form).read()

        def api(path):
            request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
            return lambda: urllib.request.urlopen(request, timeout=120).read()

        kept = json.loads(api("/api/v1/metrics/promise-kept")())
        dashboard = lambda: browser.open(base + "/dashboard", timeout=600).read()  # noqa: E731
        first_dashboard = time.perf_counter()
        dashboard()  # the first view renders and stores the snapshot
        first_dashboard = (time.perf_counter() - first_dashboard) * 1000
        rows = [
            ("GET /healthz (floor)", median_ms(lambda: urllib.request.urlopen(base + "/healthz").read(), runs), None),
            ("promise-kept, overall", median_ms(api("/api/v1/metrics/promise-kept"), runs), raw_ms(RAW_KEPT)),
            ("promise-kept, by wave", median_ms(api("/api/v1/metrics/promise-kept?group_by=wave"), runs), raw_ms(RAW_KEPT_BY_WAVE)),
            ("pipeline metrics", median_ms(api("/api/v1/metrics/pipeline"), runs), None),
            ("dashboard, first view", first_dashboard, None),
            ("dashboard page", median_ms(dashboard, runs), None),
        ]
        verdicts = kept["overall"]["n"] + kept["overall"]["too_early"]
        print(f"  {verdicts} verdicts; kept rate {kept['overall']['rate']}")
        raw_head = f"{raw_name} (ms)"
        print(f"  {'call':<26}{'aftercare (ms)':>16}{raw_head:>18}{'ratio':>8}")
        for name, ours, raw in rows:
            ratio = f"{ours / raw:.2f}x" if raw else ""
            raw_text = f"{raw:.1f}" if raw else ""
            print(f"  {name:<26}{ours:>16.1f}{raw_text:>18}{ratio:>8}")
        print(f"  server peak RSS (VmHWM): {peak_rss_mb(server.pid):.0f} MiB")
    finally:
        server.terminate()
        server.wait()


def main():
    global BINARY
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated deal counts")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per call (the median is shown)")
    parser.add_argument("--no-build", action="store_true", help="use the existing release binary")
    parser.add_argument("--binary", help=f"the aftercare binary to run, not built (default: {BINARY}, built first)")
    parser.add_argument("--pg-url", help="run on PostgreSQL: a server URL to create one database per size on "
                                         "(e.g. postgres://postgres@127.0.0.1:55432/postgres); default: SQLite")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C: the server is stopped, the databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.pg_url is None and shutil.which("sqlite3") is None:
        sys.exit("the sqlite3 command-line tool is needed: apt-get install sqlite3")
    if args.pg_url and shutil.which("psql") is None:
        sys.exit("psql is needed for --pg-url: apt-get install postgresql-client")
    if args.binary:
        BINARY = os.path.abspath(args.binary)
    elif not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"{'PostgreSQL' if args.pg_url else 'SQLite'}, {BINARY}")
    with tempfile.TemporaryDirectory(prefix="aftercare-bench-") as work:
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"{size} deals")
            bench(size, args.runs, work, args.pg_url)


if __name__ == "__main__":
    main()
