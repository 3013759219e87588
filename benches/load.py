#!/usr/bin/env python3
"""Load and soak: many signed-in sessions browsing the board, deal pages and
the dashboard at once, against the same server's /healthz as the floor.

It generates a SQLite database with `aftercare demo --deals N` (or reuses
one with --database; or, with --pg-url, a fresh PostgreSQL database on that
server, bench_load_<pid>, dropped at the end, also on Ctrl-C or SIGTERM),
starts `aftercare serve --no-demo --no-jobs` on it, signs in --sessions
browser sessions (each its own cookie), and for --seconds each session
loops: GET /board, GET /deals/{random id}, GET /dashboard. It reports
requests per second, latency percentiles per page, errors (any status but
200, or a failed connection) and the server's peak memory (the aftercare
process only: PostgreSQL's own processes are not counted), then the same
for /healthz alone at the same concurrency.
Run on demand, not in CI:

    python3 benches/load.py                                 # 10 000 deals, 50 sessions, 30 s
    python3 benches/load.py --deals 100000 --sessions 200 --seconds 60   # the soak
    python3 benches/load.py --pg-url postgres://postgres@127.0.0.1:55432/postgres   # on PostgreSQL
    python3 benches/load.py --binary /tmp/aftercare      # a prebuilt binary, no build

Needs a release build (it runs `cargo build --release` first, unless
--no-build or --binary), and psql for --pg-url. The load
generator is Python threads on the same machine, so it competes with the
server for the CPU: treat the figures as a floor on what the server does.
"""

import argparse
import http.cookiejar
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "drills"))
import common  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "aftercare")
ADMIN = ("admin@demo.aftercare.test", "aftercare-demo")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, share):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def signed_in(base):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"email": ADMIN[0], "password": ADMIN[1]}).encode()
    opener.open(base + "/login", data=form, timeout=60).read()
    return opener


def run_load(base, sessions, seconds, pages_for):
    """Each session loops over pages_for(rng) until the time is up."""
    results = {}
    lock = threading.Lock()
    openers = [signed_in(base) for _ in range(sessions)] if pages_for.__name__ != "healthz" else [None] * sessions
    deadline = time.perf_counter() + seconds

    def session(index):
        rng = random.Random(index)
        opener = openers[index]
        local = {}
        while time.perf_counter() < deadline:
            for name, path in pages_for(rng):
                start = time.perf_counter()
                ok = False
                try:
                    if opener is None:
                        response = urllib.request.urlopen(base + path, timeout=60)
                    else:
                        response = opener.open(base + path, timeout=60)
                    response.read()
                    ok = response.status == 200
                except (urllib.error.URLError, OSError):
                    ok = False
                took = (time.perf_counter() - start) * 1000
                times, errors = local.setdefault(name, ([], [0]))
                times.append(took)
                if not ok:
                    errors[0] += 1
        with lock:
            for name, (times, errors) in local.items():
                all_times, all_errors = results.setdefault(name, ([], [0]))
                all_times.extend(times)
                all_errors[0] += errors[0]

    # Daemon threads: on Ctrl-C or SIGTERM the script exits without waiting out the deadline.
    threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(sessions)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def report(title, results, elapsed):
    total = sum(len(times) for times, _ in results.values())
    errors = sum(e[0] for _, e in results.values())
    print(f"  {title}: {total} requests in {elapsed:.1f} s = {total / elapsed:.0f}/s, {errors} errors")
    print(f"    {'page':<12}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}{'errors':>8}")
    for name, (times, errs) in sorted(results.items()):
        print(
            f"    {name:<12}{len(times):>8}{statistics.median(times):>10.1f}{percentile(times, 0.95):>10.1f}"
            f"{percentile(times, 0.99):>10.1f}{max(times):>10.1f}{errs[0]:>8}"
        )
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deals", type=int, default=10000, help="deals to generate (ignored with --database)")
    parser.add_argument("--database", help="an existing SQLite file to use (a copy is not made)")
    parser.add_argument("--sessions", type=int, default=50, help="concurrent signed-in sessions")
    parser.add_argument("--seconds", type=int, default=30, help="how long each load runs")
    parser.add_argument("--no-build", action="store_true", help="use the existing release binary")
    parser.add_argument("--binary", help=f"the aftercare binary to run, not built (default: {BINARY}, built first)")
    parser.add_argument("--pg-url", help="run on PostgreSQL: a server URL to create the database on "
                                         "(e.g. postgres://postgres@127.0.0.1:55432/postgres); default: SQLite")
    args = parser.parse_args()
    if args.pg_url and args.database:
        parser.error("--database is a SQLite file: it cannot be combined with --pg-url")
    if args.pg_url and shutil.which("psql") is None:
        sys.exit("psql is needed for --pg-url: apt-get install postgresql-client")
    # SIGTERM and SIGHUP unwind like Ctrl-C: the server is stopped, the database dropped.
    common.install_signal_handlers()
    resources = common.Resources()
    try:
        return run(args, resources)
    except KeyboardInterrupt:
        print("interrupted; cleaning up", flush=True)
        return 130
    except common.Interrupted as signal_name:
        print(f"{signal_name}; cleaning up", flush=True)
        return 143
    finally:
        resources.close()


def run(args, resources):
    global BINARY
    if args.binary:
        BINARY = os.path.abspath(args.binary)
    elif not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="aftercare-load-") as work:
        if args.pg_url:
            name = f"bench_load_{os.getpid()}"
            url = common.create_database(resources, args.pg_url, name)
            print(f"PostgreSQL: database {name} on {urllib.parse.urlsplit(args.pg_url).netloc}, {BINARY}")
        else:
            db = args.database or os.path.join(work, "load.db")
            url = f"sqlite://{db}"
            print(f"SQLite: {db}, {BINARY}")
        env = dict(os.environ, AFTERCARE_DATABASE_URL=url, AFTERCARE_OUTBOX_DIR=os.path.join(work, "outbox"),
                   AFTERCARE_LOG="warn")
        if not args.database:
            started = time.perf_counter()
            subprocess.run([BINARY, "demo", "--deals", str(args.deals)], env=env, check=True, capture_output=True)
            print(f"generated {args.deals} deals in {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = subprocess.Popen([BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--no-demo", "--no-jobs"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            board = signed_in(base).open(base + "/board", timeout=120).read().decode()
            deal_ids = sorted({int(m) for m in re.findall(r'href="/deals/(\d+)"', board)}) or [1]
            # The first dashboard view renders the snapshot (the job's work); time it once.
            started = time.perf_counter()
            signed_in(base).open(base + "/dashboard", timeout=300).read()
            print(f"first dashboard view (renders the snapshot): {(time.perf_counter() - started) * 1000:.0f} ms")

            def browsing(rng):
                return [("board", "/board"), ("deal", f"/deals/{rng.choice(deal_ids)}"), ("dashboard", "/dashboard")]

            def healthz(_rng):
                return [("healthz", "/healthz")]

            print(f"{args.sessions} sessions for {args.seconds} s ({len(deal_ids)} deal pages to pick from)")
            errors = report("browsing", *run_load(base, args.sessions, args.seconds, browsing))
            errors += report("/healthz floor", *run_load(base, args.sessions, args.seconds, healthz))
            if args.pg_url:
                print(f"  server peak RSS: {peak_rss_mb(server.pid):.0f} MiB "
                      "(aftercare only, not PostgreSQL's processes)")
            else:
                print(f"  server peak RSS: {peak_rss_mb(server.pid):.0f} MiB")
            print("PASS: no errors" if errors == 0 else f"FAIL: {errors} errors")
            return 0 if errors == 0 else 1
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
