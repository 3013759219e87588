#!/usr/bin/env python3
"""Fault drill 2: the SMTP server goes down for a minute in the middle of a wave.

One or two `aftercare serve` instances on one PostgreSQL database send a
wave of about 1 000 emails (prepared as in kill_instance.py: `aftercare demo
--deals N`, then the survey-planner and weekly-digest jobs as of TODAY+30,
released to be due now) through the recording SMTP sink (sink.py). When
the sink has a third of the wave (--down-at) the drill SIGKILLs the sink:
connections drop and the port refuses. After --outage seconds (default 60)
it starts the sink again on the same port, then waits until the outbox has
nothing pending and compares the outbox's Message-IDs with the sink's.

PASS when every outbox email reached the sink and no row is left pending or
marked failed. Duplicates are reported (a message whose DATA the sink read
just before it was killed may be sent again).

The outbox retries a failed email with backoff: 2 minutes after the first
failure, then 4, 8 ... (src/mail/outbox.rs `backoff()`), counted from the
sender run that failed. So after an outage shorter than 2 minutes the wave
drains about 2 minutes after the outage began, and the whole drill takes
about 3 minutes; --outage 10 saves under a minute (the 2-minute backoff
stays). An outage of 2-6 minutes drains about 6 minutes after it began (the
second retry waits 4 minutes more), and so on; --timeout bounds the wait.

    python3 benches/drills/smtp_outage.py
    python3 benches/drills/smtp_outage.py --outage 10 --instances 1
"""

import argparse
import datetime
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
import common  # noqa: E402
from common import log  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=common.DEFAULT_BINARY, help="the aftercare binary (default: %(default)s)")
    parser.add_argument("--build", action="store_true", help="run `cargo build --release` first")
    parser.add_argument("--pg-url", default=common.DEFAULT_PG_URL,
                        help="a PostgreSQL server to create the drill's database on (default: %(default)s)")
    parser.add_argument("--own-cluster", action="store_true",
                        help="start a throwaway PostgreSQL cluster in a temporary folder instead")
    parser.add_argument("--deals", type=int, default=12500,
                        help="synthetic deals (default %(default)s, which makes a wave of about 1 000 surveys)")
    parser.add_argument("--as-of", type=datetime.date.fromisoformat,
                        help="business date of the planner and digest runs (default: today + 30 days)")
    parser.add_argument("--no-digest", action="store_true", help="leave the weekly digests out of the wave")
    parser.add_argument("--instances", type=int, choices=[1, 2], default=2, help="aftercare serve processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="AFTERCARE_MAIL_CONCURRENCY (default %(default)s)")
    parser.add_argument("--schedule", default="*/10 * * * * *",
                        help="AFTERCARE_SCHEDULE_OUTBOX_SENDER (default '%(default)s')")
    parser.add_argument("--sink-delay-ms", type=float, default=100.0,
                        help="the sink holds each message this long before its 250 (default %(default)s)")
    parser.add_argument("--down-at", type=float, default=1 / 3,
                        help="stop the sink when it has this share of the wave (default 0.33)")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the sink stays down (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="give up waiting for the outbox to drain this many seconds after the sink is back "
                             "(default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and database")
    return parser.parse_args()


def run(args, res):
    began = time.monotonic()
    workdir = res.tempdir("aftercare-drill-smtp.")
    binary = common.prepare_binary(res, args.binary, args.build, workdir)
    if args.own_cluster:
        cluster = common.PgCluster(res)
        admin_url = cluster.url()
        log(f"PostgreSQL cluster on 127.0.0.1:{cluster.port} in {cluster.dir}")
    else:
        admin_url = args.pg_url
    url, kinds = common.setup_wave(res, binary, workdir, admin_url, f"drill_smtp_{os.getpid()}", args.deals,
                                   args.as_of, digest=not args.no_digest)
    total = sum(kinds.values())
    if total == 0:
        return common.verdict(False, "the jobs queued no email; nothing to drill")

    sink = common.Sink(res, workdir, delay_ms=args.sink_delay_ms)
    env = {
        "AFTERCARE_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
        "AFTERCARE_MAIL_CONCURRENCY": str(args.concurrency),
        "AFTERCARE_SCHEDULE_OUTBOX_SENDER": args.schedule,
    }
    names = ["drill-a", "drill-b"][: args.instances]
    instances = [common.Instance(res, binary, url, workdir, name, env) for name in names]
    for instance in instances:
        instance.wait_ready()
    log("instances up: " + ", ".join(f"{i.name} pid {i.pid} on :{i.port}" for i in instances)
        + f"; sink on :{sink.port} (delay {args.sink_delay_ms:.0f} ms)")

    common.release_wave(url)
    t_release = time.monotonic()
    threshold = max(1, int(total * args.down_at))
    log(f"released the wave; the sink goes down when it has {threshold} of {total}")
    deadline = t_release + 300
    while sink.count() < threshold:
        if time.monotonic() > deadline:
            return common.verdict(False, f"the sink got {sink.count()} of {total} emails within 300 s")
        time.sleep(0.05)
    sink.kill()
    t_down = time.monotonic()
    received_before = sink.count()
    log(f"SMTP sink killed after {t_down - t_release:.1f} s with {received_before}/{total}; down for {args.outage:.0f} s")

    next_report = t_down + 10
    while time.monotonic() < t_down + args.outage:
        if time.monotonic() >= next_report:
            counts = common.outbox_counts(url)
            retrying = common.psql(url, "SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts > 0")
            log(f"  down: outbox {common.fmt_counts(counts)}, {retrying[0][0]} waiting to retry")
            next_report += 10
        time.sleep(0.5)
    during = common.outbox_counts(url)
    retry_rows = common.psql(url, "SELECT count(*), min(next_attempt_at - now()), max(next_attempt_at - now()), "
                                  "max(attempts) FROM outbox WHERE status = 'pending' AND attempts > 0")
    errors = common.psql(url, "SELECT left(last_error, 110), count(*) FROM outbox WHERE last_error IS NOT NULL "
                              "GROUP BY 1 ORDER BY 2 DESC LIMIT 3")
    sink.start()
    t_up = time.monotonic()
    n, first, last, most = retry_rows[0]
    log(f"SMTP sink back on :{sink.port} after {t_up - t_down:.1f} s; outbox {common.fmt_counts(during)}")
    log(f"  {n} rows wait to retry (attempts up to {most or 0}), due in {first or '-'} .. {last or '-'}")
    for error, count in errors:
        log(f"  last_error x{count}: {error}")

    log(f"waiting for the outbox to drain (at most {args.timeout:.0f} s)")
    deadline = t_up + args.timeout
    next_report = time.monotonic() + 30
    t_first_after, t_drained = None, None
    while True:
        counts = common.outbox_counts(url)
        if t_first_after is None and sink.count() > received_before:
            t_first_after = time.monotonic()
            log(f"first delivery after the outage: {common.fmt_counts(counts)}")
        if counts.get("pending", 0) == 0:
            t_drained = time.monotonic()
            break
        dead = [i.name for i in instances if not i.alive()]
        if dead:
            return common.verdict(False, f"{', '.join(dead)} exited during the drill; see the logs in {workdir}")
        if time.monotonic() > deadline:
            log(f"gave up: outbox {common.fmt_counts(counts)}")
            break
        if time.monotonic() >= next_report:
            log(f"  outbox {common.fmt_counts(counts)}; sink {sink.count()}")
            next_report += 30
        time.sleep(1)
    time.sleep(args.sink_delay_ms / 1000 + 1.0)

    result = common.compare(url, sink)
    warnings = sum(len(i.log_lines("delivery failed", last=10**9)) for i in instances)
    pending = result["statuses"].get("pending", 0)
    failed = result["statuses"].get("failed", 0)
    retried = sum(v for k, v in result["attempts"].items() if k > 1)

    print()
    print("figures")
    print(f"  wave                     {total} emails; {args.instances} instance(s), concurrency {args.concurrency}, "
          f"sender '{args.schedule}'")
    print(f"  sink down                at {received_before}/{total} received, {t_down - t_release:.1f} s after "
          f"release, for {t_up - t_down:.1f} s")
    print(f"  failed attempts          {warnings} 'delivery failed' warnings in the logs; {retried} rows needed "
          "more than one attempt")
    print("  first delivery after up  " + (f"{t_first_after - t_up:.1f} s" if t_first_after else "-"))
    print("  drained                  " + (f"{t_drained - t_up:.1f} s after the sink came back, "
                                            f"{t_drained - t_down:.1f} s after it went down" if t_drained else "no"))
    print(f"  outbox at the end        {common.fmt_counts(result['statuses'])}; attempts "
          + ", ".join(f"{k}:{v}" for k, v in sorted(result['attempts'].items())))
    print(f"  sink                     {result['received']} messages, {result['distinct']} distinct Message-IDs")
    print(f"  missing                  {len(result['missing'])}")
    print(f"  duplicates               {result['duplicates']} (most copies of one message: {result['most_copies']})")
    print(f"  total                    {time.monotonic() - began:.0f} s")
    for m in result["missing"][:10]:
        print(f"  missing: {m}")
    print()

    problems = []
    if result["missing"]:
        problems.append(f"{len(result['missing'])} emails never reached the sink")
    if pending or failed:
        problems.append(f"{pending} pending and {failed} failed rows left")
    if result["most_copies"] > 2:
        problems.append(f"a message arrived {result['most_copies']} times")
    summary = (f"{result['rows']} emails, {len(result['missing'])} lost, {result['duplicates']} duplicates; "
               f"SMTP down {t_up - t_down:.0f} s, "
               + (f"drained {t_drained - t_up:.0f} s after it came back" if t_drained else "never drained"))
    if problems:
        return common.verdict(False, "; ".join(problems) + f" [{summary}]")
    return common.verdict(True, summary)


def main():
    return common.drill(parse_args(), run)


if __name__ == "__main__":
    sys.exit(main())
