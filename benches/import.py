#!/usr/bin/env python3
"""Benchmarks `aftercare import deals` on a large HubSpot-style export.

Generates a HubSpot deals export of N rows (default 100 000; nine in ten
closed-won, amounts like "12,345.67", close dates like "2026-01-15 14:03",
owners by name, the extra columns real exports carry), then on a fresh
SQLite database:
  1. times `aftercare import deals FILE` (the first import: every won row a
     new deal), with the process's peak memory;
  2. times the same import again (every row unchanged);
  3. times an import of the file with one row in ten changed (updates);
  4. times the sqlite3 command-line tool's `.import` of the same file into
     a scratch table (no checks, no ids, no transitions: the floor);
  5. optionally (--api-sample N) times N deals entered one at a time through
     `POST /api/v1/deals` (`deals::create`, one transaction each) and
     extrapolates to the file, to show why the import writes in bulk.
Run on demand, not in CI:

    python3 benches/import.py                     # 100 000 rows
    python3 benches/import.py --rows 10000 --api-sample 2000

Needs a release build (it runs `cargo build --release` first unless
--no-build; AFTERCARE_BINARY=path times another binary) and the sqlite3 CLI
(`apt-get install sqlite3`).
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("AFTERCARE_BINARY") or os.path.join(ROOT, "target", "release", "aftercare")
OWNERS = [("Kim Jansen", "kim"), ("Sam Lee", "sam"), ("Ana Costa", "ana"), ("Piet de Vries", "piet"), ("Lou Martin", "lou")]
HEADER = [
    "Record ID", "Deal Name", "Deal Stage", "Close Date", "Amount", "Deal owner",
    "Associated Company", "Pipeline", "Create Date", "Last Activity Date", "Deal Type",
]


def generate(path, rows, changed_every=0):
    """Writes a HubSpot-style export; with changed_every=k, every k-th row's amount differs."""
    dice = random.Random(42)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("\ufeff" + ",".join(HEADER) + "\r\n")
        for n in range(rows):
            record_id = 9_000_000 + n
            won = dice.random() < 0.9
            amount = dice.randint(1_000, 250_000) + dice.randint(0, 99) / 100
            if changed_every and n % changed_every == 0:
                amount += 1
            day = dice.randint(1, 700)
            close = time.strftime("%Y-%m-%d %H:%M", time.gmtime(1_700_000_000 + day * 86_400))
            owner = OWNERS[n % len(OWNERS)][0]
            company = f"Customer {n * 3 // 5:06d} BV"
            fields = [
                str(record_id), f"Deal {record_id} - {company}", "Closed Won" if won else "Closed Lost", close,
                f'"{amount:,.2f}"', owner, company, "Sales Pipeline", "2023-01-02 09:00", "2024-06-01 10:00",
                "newbusiness",
            ]
            out.write(",".join(fields) + "\r\n")


def run_measured(args, env=None, stdin=None):
    """Runs a command; returns (seconds, peak RSS in MiB, exit code, stdout)."""
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdin=subprocess.PIPE if stdin else None, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    if stdin:
        process.stdin.write(stdin)
        process.stdin.close()
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"{' '.join(args)} exited {code}:\n{out}\n{err}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, code, out


def aftercare_env(database):
    env = dict(os.environ)
    env.update({"AFTERCARE_DATABASE_URL": f"sqlite://{database}", "AFTERCARE_LOG": "warn", "AFTERCARE_NO_DEMO": "true"})
    return env


def prepare_database(folder):
    database = os.path.join(folder, "aftercare.db")
    env = aftercare_env(database)
    subprocess.run([BINARY, "migrate"], env=env, check=True, capture_output=True)
    for name, login in OWNERS:
        subprocess.run([BINARY, "user", "add", "--email", f"{login}@team.example", "--name", name, "--role", "member"],
                       env=env, check=True, capture_output=True)
    return database, env


def summary_counts(out):
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def sqlite_import(folder, path):
    scratch = os.path.join(folder, "scratch.db")
    script = f".mode csv\n.import {path} deals_raw\nSELECT COUNT(*) FROM deals_raw;\n"
    return run_measured(["sqlite3", scratch], stdin=script)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_sample(folder, count):
    """Seconds per deal entered through POST /api/v1/deals on a fresh database."""
    database, env = prepare_database(os.path.join(folder, "api"))
    token = subprocess.run([BINARY, "token", "create", "--email", "kim@team.example"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    port = free_port()
    server = subprocess.Popen([BINARY, "serve", "--no-jobs", "--listen", f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        start = time.perf_counter()
        for n in range(count):
            body = json.dumps({
                "name": f"Deal {n}", "closed_won_on": "2026-01-15", "amount": 12345.67, "external_id": f"api-{n}",
                "account": {"name": f"Customer {n * 3 // 5:06d} BV"},
                "owners": {"account_manager": "kim@team.example"},
            })
            connection.request("POST", "/api/v1/deals", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 201:
                raise RuntimeError(f"POST /api/v1/deals answered {response.status}")
        return (time.perf_counter() - start) / count
    finally:
        server.terminate()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--api-sample", type=int, default=0, help="also time N deals through the API, one by one")
    parser.add_argument("--no-build", action="store_true")
    options = parser.parse_args()
    if shutil.which("sqlite3") is None:
        sys.exit("needs the sqlite3 command-line tool (apt-get install sqlite3)")
    if not options.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    folder = tempfile.mkdtemp(prefix="aftercare-import-bench-")
    try:
        export = os.path.join(folder, "hubspot-deals.csv")
        changed = os.path.join(folder, "hubspot-deals-changed.csv")
        generate(export, options.rows)
        generate(changed, options.rows, changed_every=10)
        size_mib = os.path.getsize(export) / 2**20
        print(f"{options.rows} rows, {size_mib:.1f} MiB: {export}")
        database, env = prepare_database(folder)
        results = []
        for label, path in [("first import", export), ("same file again", export), ("1 row in 10 changed", changed)]:
            seconds, rss, code, out = run_measured([BINARY, "import", "deals", path], env=env)
            counts = summary_counts(out)
            results.append((label, seconds, rss, code, counts))
        seconds, rss, code, out = sqlite_import(folder, export)
        results.append(("sqlite3 .import", seconds, rss, code, {"rows": out.strip()}))
        print()
        print(f"{'run':<22} {'seconds':>8} {'peak RSS':>10}  outcome")
        for label, seconds, rss, code, counts in results:
            what = ", ".join(f"{k} {v}" for k, v in counts.items()) if code == 0 else f"exit {code}"
            print(f"{label:<22} {seconds:>8.2f} {rss:>7.0f} MiB  {what}")
        if options.api_sample:
            per_deal = api_sample(folder, options.api_sample)
            won = results[0][4].get("created", options.rows)
            print(f"\nPOST /api/v1/deals one at a time: {per_deal * 1000:.2f} ms a deal "
                  f"({options.api_sample} deals), so {won} deals would take about {per_deal * won:.0f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
