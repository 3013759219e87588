#!/usr/bin/env python3
"""Benchmarks a survey wave of about 10 000 emails: Aftercare's outbox sender
against postfix's own `smtp-source`, both delivering to postfix's `smtp-sink`.

The wave is built through the app's own jobs, as the fault drills do:
  1. `aftercare demo --deals N` into a fresh SQLite file (or, with --pg-url,
     a fresh PostgreSQL database on that server), then
     `aftercare jobs run survey-planner --as-of TODAY+30`: the waves that fall
     due in the 30 days before that date, one survey email each, queued in
     the outbox (125 000 deals give about 10 000; the planner skips waves more
     than 30 days overdue, so a later --as-of does not give more);
  2. the database is copied once per --concurrency (a SQLite file copy, or
     `CREATE DATABASE ... TEMPLATE`), so every drain starts from the same wave;
  3. a few rows of the original are released and sent to .eml files (no SMTP)
     to measure a survey email's size on the wire;
  4. per concurrency: a fresh `smtp-sink -c` on a free loopback port, the
     wave released (the jobs ran as of a future date, so only
     `outbox.next_attempt_at` is moved to now), then
     `aftercare jobs run outbox-sender --smtp-url smtp://127.0.0.1:PORT
     --mail-concurrency C` run again and again until nothing is pending
     (one run sends at most 20 batches of 200). Timed from the start of the
     first run to the end of the run that empties the outbox; checked
     against the sink's message counter and the outbox's `sent` rows;
  5. the baseline: `smtp-source -d -s S -m COUNT -l SIZE` (one connection per
     session reused for every message, like the app's pooled SMTP client)
     sending the same number of messages of the survey email's size to a
     fresh sink, for S = each concurrency.

It prints emails per second for each and the app's ratio to smtp-source at
the same number of parallel sessions. Run on demand, not in CI:

    python3 benches/wave.py --binary /path/to/aftercare            # SQLite, ~10 000 emails
    python3 benches/wave.py --pg-url postgres://postgres@127.0.0.1:55432/postgres
    python3 benches/wave.py --deals 12500 --concurrency 8          # a quick ~1 000-email run

Needs a release build (target/release/aftercare unless --binary; --build runs
`cargo build --release`), postfix's test tools (`apt-get install postfix`
provides /usr/sbin/smtp-sink and smtp-source; the postfix daemon itself is
not needed), and sqlite3 or psql. Everything it starts and creates (sinks,
temporary folder, databases) is removed at the end, also on Ctrl-C.
Exit status: 0 when every drain delivered the whole wave, 1 otherwise.
"""

import argparse
import datetime
import os
import re
import resource
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "drills"))
import common  # noqa: E402
from common import log  # noqa: E402

SBIN_PATH = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/usr/local/sbin"
REPORT = re.compile(r"sent=(\d+) retrying=(\d+) failed=(\d+)")
COUNTERS = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=common.DEFAULT_BINARY, help="the aftercare binary (default: %(default)s)")
    parser.add_argument("--build", action="store_true", help="run `cargo build --release` first")
    parser.add_argument("--pg-url", help="run on PostgreSQL: a server URL to create the databases on "
                                         "(e.g. postgres://postgres@127.0.0.1:55432/postgres); default: a SQLite file")
    parser.add_argument("--deals", type=int, default=125000,
                        help="synthetic deals (default %(default)s, which makes a wave of about 10 000 surveys)")
    parser.add_argument("--as-of", type=datetime.date.fromisoformat,
                        help="business date of the survey-planner run (default: today + 30 days)")
    parser.add_argument("--concurrency", default="1,8",
                        help="comma-separated --mail-concurrency values to drain at; smtp-source runs with as "
                             "many sessions (default %(default)s)")
    parser.add_argument("--sample", type=int, default=20,
                        help="emails written to .eml files to measure the size of a survey email (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up a drain after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and databases")
    return parser.parse_args()


# ---------------------------------------------------------------- databases


class Database:
    """The wave's database: a SQLite file or a PostgreSQL database."""

    def __init__(self, url, path=None):
        self.url = url
        self.path = path  # SQLite only

    @property
    def sqlite(self):
        return self.path is not None

    def query(self, sql):
        if not self.sqlite:
            return common.psql(self.url, sql, timeout=600)
        result = subprocess.run(["sqlite3", "-batch", "-noheader", "-separator", "\t", self.path, sql],
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"sqlite3 failed ({sql[:60]}...): {result.stderr.strip()}")
        return [line.split("\t") for line in result.stdout.splitlines() if line != ""]

    def now(self, seconds_ago=1):
        """`now` minus a second as the app stores it: SQLite keeps RFC 3339 text
        that the sender compares as text, so the format must match."""
        if self.sqlite:
            return f"strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-{seconds_ago} seconds')"
        return f"now() - interval '{seconds_ago} seconds'"

    def release(self, limit=None):
        """Makes pending rows due now; only `next_attempt_at` changes."""
        rows = "status = 'pending'"
        if limit is not None:
            rows = f"id IN (SELECT id FROM outbox WHERE status = 'pending' ORDER BY id LIMIT {int(limit)})"
        if self.sqlite:
            sql = f"UPDATE outbox SET next_attempt_at = {self.now()} WHERE {rows}; SELECT changes();"
        else:
            sql = (f"WITH r AS (UPDATE outbox SET next_attempt_at = {self.now()} WHERE {rows} RETURNING 1) "
                   "SELECT count(*) FROM r")
        return int(self.query(sql)[0][0])

    def counts(self):
        """{status: count} of the outbox's email rows."""
        return {s: int(n) for s, n in self.query(
            "SELECT status, count(*) FROM outbox WHERE channel = 'email' GROUP BY status")}


def make_base(res, args, workdir):
    if args.pg_url:
        url = common.create_database(res, args.pg_url, f"bench_wave_{os.getpid()}")
        return Database(url)
    path = os.path.join(workdir, "wave.db")
    return Database(f"sqlite://{path}", path)


def clone(res, args, base, workdir, label):
    """A copy of the base database holding the same queued wave."""
    if base.sqlite:
        # The CLI leaves its writes in the WAL: fold them in, then copy one file.
        base.query("PRAGMA wal_checkpoint(TRUNCATE);")
        path = os.path.join(workdir, f"wave-{label}.db")
        shutil.copyfile(base.path, path)
        res.defer(f"remove {path}", lambda: os.path.exists(path) and os.remove(path))
        return Database(f"sqlite://{path}", path)
    name = f"bench_wave_{os.getpid()}_{label}"
    source = base.url.rsplit("/", 1)[1]
    common.psql(args.pg_url, f'CREATE DATABASE "{name}" TEMPLATE "{source}"', timeout=600)
    if args.keep:
        res.defer(f"keep database {name}", lambda: print(f"kept database {name}", flush=True))
    else:
        res.defer(f"drop database {name}",
                  lambda: common.psql(args.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return Database(common.with_database(args.pg_url, name))


# -------------------------------------------------------------------- tools


def tool(name):
    found = shutil.which(name, path=SBIN_PATH)
    if found is None:
        sys.exit(f"{name} not found: apt-get install postfix (it provides /usr/sbin/{name})")
    return found


class SmtpSink:
    """postfix's smtp-sink with running counters (-c) written to a file."""

    def __init__(self, res, workdir, label):
        self.port = common.free_port()
        self.out = os.path.join(workdir, f"smtp-sink-{label}.out")
        args = [tool("smtp-sink"), "-c"]
        if os.geteuid() == 0:
            args += ["-u", "root"]  # required when started as root
        args += [f"127.0.0.1:{self.port}", "1000"]
        self.proc = res.spawn(args, self.out)
        deadline = time.monotonic() + 20
        while not common.port_open(self.port):  # this probe is one session
            if self.proc.poll() is not None or time.monotonic() > deadline:
                with open(self.out, errors="replace") as f:
                    raise RuntimeError(f"smtp-sink did not start:\n{f.read()[-2000:]}")
            time.sleep(0.05)

    def stop(self):
        """Stops the sink; returns (sessions, messages) from its last counter."""
        time.sleep(0.3)  # let the last QUITs land
        common.stop_process(self.proc)
        with open(self.out, "rb") as f:
            found = COUNTERS.findall(f.read())
        if not found:
            return 0, 0
        sessions, _quits, messages = (int(x) for x in found[-1])
        return max(0, sessions - 1), messages  # minus the start-up probe


def aftercare(binary, db, args, workdir, env=None, timeout=3600):
    """Runs `aftercare ARGS` on `db` to completion; returns its stdout. The
    caller's AFTERCARE_* variables are left out, so only the flags count."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    environment.update(AFTERCARE_DATABASE_URL=db.url, AFTERCARE_OUTBOX_DIR=os.path.join(workdir, "outbox"),
                       AFTERCARE_LOG="warn", NO_COLOR="1")
    environment.update(env or {})
    result = subprocess.run([binary] + args, capture_output=True, text=True, env=environment, cwd=workdir,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"aftercare {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout.strip()


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------- steps


def measure_size(binary, base, workdir, sample):
    """Sends `sample` rows of the base database to .eml files (the file
    transport writes the message exactly as SMTP's DATA carries it)."""
    released = base.release(limit=sample)
    eml_dir = os.path.join(workdir, "eml")
    os.makedirs(eml_dir, exist_ok=True)
    aftercare(binary, base, ["jobs", "run", "outbox-sender"], workdir, env={"AFTERCARE_OUTBOX_DIR": eml_dir})
    sizes = sorted(os.path.getsize(os.path.join(eml_dir, f)) for f in os.listdir(eml_dir) if f.endswith(".eml"))
    if not sizes:
        raise RuntimeError(f"released {released} rows but no .eml file was written to {eml_dir}")
    return sizes


def drain(binary, db, workdir, sink_port, concurrency, total, timeout):
    """Runs the outbox-sender until nothing is pending; returns the figures."""
    args = ["--smtp-url", f"smtp://127.0.0.1:{sink_port}", "--mail-concurrency", str(concurrency),
            "jobs", "run", "outbox-sender"]
    runs, sent, retrying, failed, cpu = [], 0, 0, 0, 0.0
    started = time.perf_counter()
    deadline = started + timeout
    while True:
        before = children_cpu()
        run_started = time.perf_counter()
        report = aftercare(binary, db, args, workdir, timeout=timeout)
        run_took = time.perf_counter() - run_started
        cpu += children_cpu() - before
        match = REPORT.search(report)
        if not match:
            raise RuntimeError(f"unexpected outbox-sender report: {report}")
        s, r, f = (int(x) for x in match.groups())
        runs.append((s, run_took))
        sent, retrying, failed = sent + s, retrying + r, failed + f
        log(f"  run {len(runs)}: sent={s} retrying={r} failed={f} in {run_took:.1f} s")
        pending = db.counts().get("pending", 0)
        if pending == 0:
            break
        if s == 0 or time.perf_counter() > deadline:
            break
    took = time.perf_counter() - started
    return {"seconds": took, "runs": runs, "sent": sent, "retrying": retrying, "failed": failed, "cpu": cpu,
            "counts": db.counts(), "total": total}


def source(sink_port, sessions, count, size):
    """smtp-source's time for `count` messages of `size` bytes."""
    args = [tool("smtp-source"), "-d", "-s", str(sessions), "-m", str(count), "-l", str(size),
            f"127.0.0.1:{sink_port}"]
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"smtp-source failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return took, " ".join(["smtp-source"] + args[1:])


def run(args, res):
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    tool("smtp-sink")
    tool("smtp-source")
    if args.pg_url is None and shutil.which("sqlite3") is None:
        sys.exit("the sqlite3 command-line tool is needed: apt-get install sqlite3")
    if args.pg_url and shutil.which("psql") is None:
        sys.exit("psql is needed for --pg-url: apt-get install postgresql-client")
    workdir = res.tempdir("aftercare-wave.")
    binary = common.prepare_binary(res, args.binary, args.build, workdir)
    base = make_base(res, args, workdir)
    backend = "PostgreSQL" if args.pg_url else "SQLite"
    log(f"{backend} database {base.url}")

    started = time.perf_counter()
    log(f"aftercare demo --deals {args.deals}")
    log("  " + aftercare(binary, base, ["demo", "--deals", str(args.deals)], workdir))
    generated = time.perf_counter() - started
    as_of = args.as_of or common.today_utc() + datetime.timedelta(days=30)
    started = time.perf_counter()
    log(f"aftercare jobs run survey-planner --as-of {as_of}")
    log("  " + aftercare(binary, base, ["jobs", "run", "survey-planner", "--as-of", as_of.isoformat()], workdir))
    planned = time.perf_counter() - started
    counts = base.counts()
    total = counts.get("pending", 0)
    log(f"generated in {generated:.1f} s, planned in {planned:.1f} s; outbox: {common.fmt_counts(counts)}")
    if total == 0:
        return common.verdict(False, "the survey planner queued no email")

    clones = {}
    for level in levels:
        started = time.perf_counter()
        clones[level] = clone(res, args, base, workdir, f"c{level}")
        log(f"copied the wave for concurrency {level} in {time.perf_counter() - started:.1f} s")

    sizes = measure_size(binary, base, workdir, args.sample)
    size = round(sum(sizes) / len(sizes))
    log(f"survey email size over {len(sizes)} samples: mean {size} B, min {sizes[0]} B, max {sizes[-1]} B")

    results, problems = [], []
    for level in levels:
        db = clones[level]
        sink = SmtpSink(res, workdir, f"c{level}")
        released = db.release()
        log(f"concurrency {level}: released {released} rows; draining to smtp-sink on :{sink.port}")
        figures = drain(binary, db, workdir, sink.port, level, total, args.timeout)
        sessions, received = sink.stop()
        figures.update(sessions=sessions, received=received, level=level)
        results.append(figures)
        sent_rows = figures["counts"].get("sent", 0)
        log(f"  {figures['sent']} sent in {figures['seconds']:.1f} s over {len(figures['runs'])} runs; "
            f"smtp-sink: {received} messages in {sessions} sessions; outbox {common.fmt_counts(figures['counts'])}")
        if released != total or sent_rows != total or received != total or figures["retrying"] or figures["failed"]:
            problems.append(f"concurrency {level}: {total} queued, {released} released, {sent_rows} marked sent, "
                            f"{received} at the sink, {figures['retrying']} retrying, {figures['failed']} failed")
        if not args.keep and db.sqlite:
            os.remove(db.path)  # free the disk before the next copy is drained

    baselines = {}
    for level in levels:
        sink = SmtpSink(res, workdir, f"source-s{level}")
        took, command = source(sink.port, level, total, size)
        sessions, received = sink.stop()
        baselines[level] = {"seconds": took, "received": received, "sessions": sessions, "command": command}
        log(f"{command}: {received} messages in {sessions} sessions, {took:.2f} s")
        if received != total:
            problems.append(f"smtp-source -s {level}: {received} of {total} at the sink")

    print()
    print(f"survey wave: {total} emails of ~{size} B ({backend}, {args.deals} deals, planner as of {as_of})")
    print(f"  {'sender':<34}{'emails':>8}{'seconds':>10}{'emails/s':>10}{'CPU s':>8}{'sessions':>10}"
          f"   ratio to smtp-source (same sessions)")
    for figures in results:
        level = figures["level"]
        rate = figures["sent"] / figures["seconds"]
        base_rate = total / baselines[level]["seconds"]
        print(f"  {'aftercare --mail-concurrency ' + str(level):<34}{figures['received']:>8}{figures['seconds']:>10.1f}"
              f"{rate:>10.1f}{figures['cpu']:>8.1f}{figures['sessions']:>10}   {rate / base_rate:.5f} "
              f"(1/{base_rate / rate:.0f} of {base_rate:.0f}/s)")
    for level, baseline in baselines.items():
        label = f"smtp-source -d -s {level} -l {size}"
        print(f"  {label:<34}{baseline['received']:>8}{baseline['seconds']:>10.2f}"
              f"{total / baseline['seconds']:>10.0f}{'':>8}{baseline['sessions']:>10}   baseline")
    print("  (CPU s = user+system time of the aftercare processes; sessions = SMTP connections smtp-sink saw)")
    print()
    if problems:
        return common.verdict(False, "; ".join(problems))
    rates = ", ".join(f"{r['sent'] / r['seconds']:.0f}/s at concurrency {r['level']}" for r in results)
    return common.verdict(True, f"{total} emails delivered in every drain: {rates}")


def main():
    return common.drill(parse_args(), run)


if __name__ == "__main__":
    sys.exit(main())
