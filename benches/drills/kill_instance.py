#!/usr/bin/env python3
"""Fault drill 1: an instance is killed (SIGKILL) in the middle of an email wave.

Two `aftercare serve` instances share one PostgreSQL database and send
through one recording SMTP sink (sink.py). The drill
  1. creates a database (on --pg-url's server, or --own-cluster), loads
     `aftercare demo --deals N` and queues a wave through the app's own jobs:
     `jobs run survey-planner --as-of TODAY+30` (about 1 000 surveys for the
     default 12 500 deals) and `jobs run weekly-digest --as-of TODAY+30`
     (one digest per demo user);
  2. starts the sink and the two instances (outbox-sender every 10 s), then
     releases the wave: the jobs ran as of a future business date, so the
     rows are made due now (only `outbox.next_attempt_at` is touched);
  3. when the sink has about half of the wave (--kill-at), SIGKILLs the
     instance that holds the outbox-sender's job lease, i.e. the one sending
     (--victim idle kills the other one instead);
  4. waits until the outbox has nothing pending, then compares the outbox's
     Message-IDs with the sink's.

PASS when every outbox email reached the sink, none is left pending or
failed, no message arrived more than twice, every duplicate was a row the
killed instance had claimed but not yet marked sent, and there are no more
duplicates than the sender has in flight (--concurrency, by default the
product's 1: "at most one duplicate per kill, never a loss").

How long: about 7 minutes with the default --victim sender (sink delay
100 ms, concurrency 1: the wave alone takes close to 2 minutes). The survivor
takes the job over once the killed instance's lease runs out (90 s after its
last renewal, jobs::LEASE), and the rows the dead sender had claimed but not
sent once their claim has (5 minutes, outbox::CLAIM). --victim idle takes
about 2 minutes.

    python3 benches/drills/kill_instance.py
    python3 benches/drills/kill_instance.py --deals 6000 --victim idle
"""

import argparse
import datetime
import os
import signal
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
    parser.add_argument("--concurrency", type=int, default=1,
                        help="AFTERCARE_MAIL_CONCURRENCY (default %(default)s, the product's default); "
                             "FAIL when the kill causes more duplicates than this")
    parser.add_argument("--schedule", default="*/10 * * * * *",
                        help="AFTERCARE_SCHEDULE_OUTBOX_SENDER (default '%(default)s')")
    parser.add_argument("--sink-delay-ms", type=float, default=100.0,
                        help="the sink holds each message this long before its 250 (default %(default)s)")
    parser.add_argument("--kill-at", type=float, default=0.5,
                        help="kill when the sink has this share of the wave (default %(default)s)")
    parser.add_argument("--victim", choices=["sender", "idle"], default="sender",
                        help="kill the instance holding the outbox-sender lease, or the other one (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=1080.0,
                        help="give up waiting for the outbox to drain after this many seconds (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and database")
    return parser.parse_args()


def lease_holder(url):
    rows = common.psql(url, "SELECT holder FROM job_leases WHERE name = 'outbox-sender'")
    return rows[0][0] if rows else None


def owner(instances, holder):
    for instance in instances:
        if holder and holder.startswith(f"{instance.name}-{instance.pid}-"):
            return instance
    return None


def run(args, res):
    began = time.monotonic()
    workdir = res.tempdir("aftercare-drill-kill.")
    binary = common.prepare_binary(res, args.binary, args.build, workdir)
    if args.own_cluster:
        cluster = common.PgCluster(res)
        admin_url = cluster.url()
        log(f"PostgreSQL cluster on 127.0.0.1:{cluster.port} in {cluster.dir}")
    else:
        admin_url = args.pg_url
    url, kinds = common.setup_wave(res, binary, workdir, admin_url, f"drill_kill_{os.getpid()}", args.deals,
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
    instances = [common.Instance(res, binary, url, workdir, name, env) for name in ("drill-a", "drill-b")]
    for instance in instances:
        instance.wait_ready()
    log("instances up: " + ", ".join(f"{i.name} pid {i.pid} on :{i.port}" for i in instances)
        + f"; sink on :{sink.port} (delay {args.sink_delay_ms:.0f} ms)")

    released = common.release_wave(url)
    t_release = time.monotonic()
    log(f"released {released} rows; waiting until the sink has {args.kill_at:.0%} of {total}")
    threshold = max(1, int(total * args.kill_at))
    deadline = t_release + 300
    while sink.count() < threshold:
        if time.monotonic() > deadline:
            return common.verdict(False, f"the sink got {sink.count()} of {total} emails within 300 s; never killed")
        time.sleep(0.05)

    # The sender is whoever holds the outbox-sender's lease right now.
    holder, sender = None, None
    wait_until = time.monotonic() + 30
    while sender is None and time.monotonic() < wait_until:
        holder = lease_holder(url)
        sender = owner(instances, holder)
        if sender is None:
            time.sleep(0.05)
    if sender is None:
        return common.verdict(False, "no instance held the outbox-sender lease while the wave went out")
    victim = sender if args.victim == "sender" else next(i for i in instances if i is not sender)
    survivor = next(i for i in instances if i is not victim)
    received_at_kill = sink.count()
    os.kill(victim.pid, signal.SIGKILL)
    victim.proc.wait(timeout=10)
    t_kill = time.monotonic()
    log(f"SIGKILL {victim.name} (pid {victim.pid}, {'the sender' if victim is sender else 'idle'}) "
        f"after {t_kill - t_release:.1f} s with {received_at_kill}/{total} at the sink")

    # Let the sink finish messages whose DATA was already in, then look.
    time.sleep(args.sink_delay_ms / 1000 + 1.0)
    at_kill = common.outbox_counts(url)
    victim_like = f"{victim.name}-{victim.pid}-%"
    claims = {row[0] for row in common.psql(
        url, f"SELECT message_id FROM outbox WHERE status = 'pending' AND locked_by LIKE '{victim_like}'")}
    claim_until = common.psql(
        url, f"SELECT max(locked_until) - now() FROM outbox WHERE status = 'pending' AND locked_by LIKE '{victim_like}'")
    lease_until = common.psql(url, "SELECT leased_until - now() FROM job_leases WHERE name = 'outbox-sender'")
    arrived = {m for _, m, _ in sink.received()}
    delivered_unmarked = claims & arrived
    log(f"outbox just after the kill: {common.fmt_counts(at_kill)}; the sink has {len(arrived)}")
    log(f"rows claimed by {victim.name} and not marked: {len(claims)} "
        f"({len(delivered_unmarked)} of them already delivered, so bound to go out twice)")
    if claims:
        log(f"  their claim runs out in {claim_until[0][0]}")
    if lease_until and lease_until[0][0]:
        log(f"  the outbox-sender lease (held by {lease_holder(url)}) runs out in {lease_until[0][0]}")

    log(f"waiting for the outbox to drain (at most {args.timeout:.0f} s)")
    deadline = time.monotonic() + args.timeout
    next_report = time.monotonic() + 30
    t_resumed = None
    sent_at_kill = at_kill.get("sent", 0)
    while True:
        counts = common.outbox_counts(url)
        if t_resumed is None and counts.get("sent", 0) > sent_at_kill:
            t_resumed = time.monotonic()
            log(f"rows marked sent again ({survivor.name}): {common.fmt_counts(counts)}")
        if counts.get("pending", 0) == 0:
            break
        if not survivor.alive():
            return common.verdict(False, f"the surviving instance {survivor.name} exited; see {survivor.log_path}")
        if time.monotonic() > deadline:
            log(f"gave up: {common.fmt_counts(counts)}")
            break
        if time.monotonic() >= next_report:
            log(f"  outbox {common.fmt_counts(counts)}; sink {sink.count()}")
            next_report += 30
        time.sleep(1)
    t_drained = time.monotonic()
    time.sleep(args.sink_delay_ms / 1000 + 1.0)

    result = common.compare(url, sink)
    runs = common.psql(url, "SELECT instance, outcome, detail FROM job_runs WHERE job = 'outbox-sender' "
                            "AND outcome <> 'skipped' ORDER BY id")
    skipped = common.psql(url, "SELECT count(*) FROM job_runs WHERE job = 'outbox-sender' AND outcome = 'skipped'")
    dup_outside_claims = [m for m in result["duplicated"] if m not in claims]
    pending = result["statuses"].get("pending", 0)
    failed = result["statuses"].get("failed", 0)

    print()
    print("figures")
    print(f"  wave                     {total} emails ({result['rows']} in the outbox at the end)")
    print(f"  instances                2 (concurrency {args.concurrency}, claim batch 200, sender '{args.schedule}')")
    print(f"  killed                   {victim.name} ({'sender' if victim is sender else 'idle'}) at "
          f"{received_at_kill}/{total} received, {t_kill - t_release:.1f} s after release")
    print(f"  claimed, unmarked        {len(claims)} rows ({len(delivered_unmarked)} already delivered)")
    print("  sending resumed          " + (f"{t_resumed - t_kill:.1f} s after the kill" if t_resumed else "-"))
    print(f"  drained after the kill   {t_drained - t_kill:.1f} s")
    print(f"  outbox at the end        {common.fmt_counts(result['statuses'])}; attempts "
          + ", ".join(f"{k}:{v}" for k, v in sorted(result['attempts'].items())))
    print(f"  sink                     {result['received']} messages, {result['distinct']} distinct Message-IDs")
    print(f"  missing                  {len(result['missing'])}")
    print(f"  duplicates               {result['duplicates']} (most copies of one message: {result['most_copies']}; "
          f"outside the killed instance's claims: {len(dup_outside_claims)})")
    print(f"  unknown at the sink      {len(result['unknown'])}")
    print("  sender runs              " + "; ".join(f"{i} {o} ({d})" for i, o, d in runs) + f"; {skipped[0][0]} skipped")
    print(f"  total                    {time.monotonic() - began:.0f} s")
    for m in result["missing"][:10]:
        print(f"  missing: {m}")
    for m in dup_outside_claims[:10]:
        print(f"  duplicate outside the claims: {m}")
    print()

    problems = []
    if result["missing"]:
        problems.append(f"{len(result['missing'])} emails never reached the sink")
    if pending or failed:
        problems.append(f"{pending} pending and {failed} failed rows left")
    if result["most_copies"] > 2:
        problems.append(f"a message arrived {result['most_copies']} times")
    if dup_outside_claims:
        problems.append(f"{len(dup_outside_claims)} duplicates were not in-flight claims of the killed instance")
    if result["duplicates"] > args.concurrency:
        problems.append(f"{result['duplicates']} duplicates from one kill > the {args.concurrency} messages a "
                        "sender has in flight")
    summary = (f"{result['rows']} emails, {len(result['missing'])} lost, {result['duplicates']} duplicates "
               f"(<= {len(claims)} in-flight claims at the kill), drained {t_drained - t_kill:.0f} s after killing "
               f"{victim.name}")
    if problems:
        return common.verdict(False, "; ".join(problems) + f" [{summary}]")
    return common.verdict(True, summary)


def main():
    return common.drill(parse_args(), run)


if __name__ == "__main__":
    sys.exit(main())
