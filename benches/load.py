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

With --wrk the load comes from wrk (Debian package `wrk`) instead of the
Python threads; the database, the server and the other options are the
same:

    python3 benches/load.py --wrk --deals 100000 --sessions 200 --seconds 60

It signs in --sessions sessions (each its own cookie, no redirect followed)
and writes a Lua script to the temporary folder that gives each wrk thread
its share of the cookies; each thread's request() rotates over them and
over /board, /deals/{random id from the board}, /dashboard (a third each,
as in the Python mode). It runs `wrk -t 2 -c SESSIONS -d SECONDSs --latency
--timeout 30s -s script.lua`, waits until the server's CPU is idle again
(wrk abandons the requests still in flight when its time is up; the server
may still be working on them), then the same against /healthz alone as the
floor. It reports wrk's requests/s and latency percentiles (50/75/90/99 %
and max, over all pages: wrk's summary has none per page), its socket
errors, and from the Lua script, per page, the requests sent and answered
and the answers that were not 2xx (a 3xx counts: an expired session is a
303 to /login, which wrk itself does not count; an answer is put to its
page by its title, or by the redirect's next=). PASS only with no non-2xx
answer and no socket error (connect, read, write or timeout: wrk counts a
request over 30 s as a timeout, and also counts each connection still
waiting past 30 s at each of its 2-second checks).
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


WRK_LUA = r"""-- written by benches/load.py --wrk: see its docstring
local cookies = {COOKIES}
local deal_ids = {DEAL_IDS}
local mode = "{MODE}"
local thread_count = {THREADS}
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  math.randomseed(id * 7919)
  n = 0
  sent = {}
  statuses = {}
  own = {}
  for k = id, #cookies, thread_count do
    own[#own + 1] = cookies[k]
  end
  healthz = wrk.format("GET", "/healthz")
end

function request()
  if mode == "healthz" then
    sent.healthz = (sent.healthz or 0) + 1
    return healthz
  end
  local i = n
  n = n + 1
  local kind = i % 3
  local cookie = own[(math.floor(i / 3) % #own) + 1]
  local name, path
  if kind == 0 then
    name, path = "board", "/board"
  elseif kind == 1 then
    name, path = "deal", "/deals/" .. deal_ids[math.random(#deal_ids)]
  else
    name, path = "dashboard", "/dashboard"
  end
  sent[name] = (sent[name] or 0) + 1
  return wrk.format("GET", path, { ["Cookie"] = cookie })
end

local redirected = { board = "board", deals = "deal", dashboard = "dashboard" }

function response(status, headers, body)
  local name = "other"
  if mode == "healthz" then
    name = "healthz"
  elseif status >= 300 and status < 400 then
    local location = headers["location"] or headers["Location"] or ""
    name = redirected[location:match("next=%%2F(%a+)") or ""] or "other"
  else
    local head = body:sub(1, 1024)
    if head:find("<title>Board ", 1, true) then
      name = "board"
    elseif head:find("<title>Dashboard ", 1, true) then
      name = "dashboard"
    elseif status == 200 and body:find('action="/deals/', 1, true) then
      name = "deal"
    end
  end
  local key = name .. " " .. status
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for name, count in pairs(thread:get("sent") or {}) do
      totals["sent " .. name] = (totals["sent " .. name] or 0) + count
    end
    for key, count in pairs(thread:get("statuses") or {}) do
      totals["status " .. key] = (totals["status " .. key] or 0) + count
    end
  end
  for key, count in pairs(totals) do
    io.write(string.format("aftercare-lua %s %d\n", key, count))
  end
end
"""

WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def wrk_ms(number, unit):
    return float(number) * WRK_UNITS[unit]


def lua_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(base, work, mode, cookies, deal_ids, sessions, seconds):
    """Runs wrk with the Lua script in `mode` ("browsing" or "healthz");
    returns its figures parsed from its output, or exits on a wrk failure."""
    threads = min(2, sessions)
    script = os.path.join(work, f"{mode}.lua")
    with open(script, "w") as out:
        out.write(WRK_LUA.replace("{COOKIES}", "{" + ", ".join(lua_string(c) for c in cookies) + "}")
                  .replace("{DEAL_IDS}", "{" + ", ".join(str(i) for i in deal_ids) + "}")
                  .replace("{MODE}", mode).replace("{THREADS}", str(threads)))
    url = base + ("/healthz" if mode == "healthz" else "/board")
    command = ["wrk", "-t", str(threads), "-c", str(sessions), "-d", f"{seconds}s", "--latency", "--timeout", "30s",
               "-s", script, url]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        sys.exit(f"wrk did not finish within {seconds + 120} s: {' '.join(command)}")
    output = done.stdout
    found = {"output": output, "sent": {}, "answered": {}, "statuses": {}}
    if done.returncode != 0 or not re.search(r"requests in", output):
        sys.exit(f"wrk failed (exit {done.returncode}): {' '.join(command)}\n{output}{done.stderr}")
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    found["requests"] = int(match[1])
    found["elapsed"] = wrk_ms(match[2], match[3]) / 1000
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    found["rate"] = float(match[1]) if match else float("nan")
    for share, number, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M):
        found[f"p{share}"] = wrk_ms(number, unit)
    match = re.search(r"^\s+Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m|h)", output, re.M)
    found["max"] = wrk_ms(match[1], match[2]) if match else float("nan")
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    found["socket"] = dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()) if match else (0,) * 4))
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    found["wrk_non2xx"] = int(match[1]) if match else 0
    found["lua"] = False
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] != ["aftercare-lua"]:
            continue
        found["lua"] = True
        if parts[1] == "sent":
            found["sent"][parts[2]] = int(parts[3])
        elif parts[1] == "status":
            name, status, count = parts[2], int(parts[3]), int(parts[4])
            found["answered"][name] = found["answered"].get(name, 0) + count
            found["statuses"][(name, status)] = count
    return found


def report_wrk(title, found):
    """Prints wrk's figures in the Python mode's table style; returns the error count."""
    non2xx = {}
    for (name, status), count in found["statuses"].items():
        if not 200 <= status < 300:
            non2xx[name] = non2xx.get(name, 0) + count
    lua_non2xx = sum(non2xx.values())
    socket_errors = sum(found["socket"].values())
    errors = max(lua_non2xx, found["wrk_non2xx"]) + socket_errors
    if not found["lua"]:
        errors += 1  # 3xx answers cannot be told without the Lua counts
        print("  the Lua script's counts are missing from wrk's output:\n" + found["output"])
    total = found["requests"]
    print(f"  {title} (wrk): {total} requests in {found['elapsed']:.1f} s = {found['rate']:.0f}/s, "
          f"{lua_non2xx} non-2xx, socket errors: " + ", ".join(f"{k} {v}" for k, v in found["socket"].items()))
    print(f"    {'page':<12}{'sent':>8}{'answered':>10}{'p50 ms':>10}{'p75 ms':>10}{'p90 ms':>10}{'p99 ms':>10}"
          f"{'max ms':>10}{'non-2xx':>9}")
    sent_all = sum(found["sent"].values())
    shares = "".join(f"{found.get(key, float('nan')):>10.1f}" for key in ("p50", "p75", "p90", "p99", "max"))
    print(f"    {'all':<12}{sent_all:>8}{total:>10}{shares}{lua_non2xx:>9}")
    names = sorted(set(found["sent"]) | set(found["answered"]))
    for name in names:
        print(f"    {name:<12}{found['sent'].get(name, 0):>8}{found['answered'].get(name, 0):>10}"
              f"{'-':>10}{'-':>10}{'-':>10}{'-':>10}{'-':>10}{non2xx.get(name, 0):>9}")
    odd = sorted((name, status, count) for (name, status), count in found["statuses"].items()
                 if not 200 <= status < 300)
    if odd:
        print("    non-2xx answers: " + ", ".join(f"{name} {status} x{count}" for name, status, count in odd))
    if found["wrk_non2xx"] != 0 and found["wrk_non2xx"] != lua_non2xx:
        print(f"    wrk's own count of answers over 399: {found['wrk_non2xx']}")
    return errors


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid, limit=600):
    """Waits until the server uses under 5 % of a core over a second; returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = cpu_seconds(pid)
        time.sleep(1)
        if cpu_seconds(pid) - before < 0.05:
            break
    return time.perf_counter() - started


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
    parser.add_argument("--wrk", action="store_true", help="drive the load with wrk (package wrk) instead of "
                                                            "Python threads; see above")
    args = parser.parse_args()
    if args.wrk and shutil.which("wrk") is None:
        sys.exit("wrk is needed for --wrk and is not on PATH: apt-get install wrk")
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
            if args.wrk:
                started = time.perf_counter()
                cookies = [common.sign_in(port, *ADMIN) for _ in range(args.sessions)]
                print(f"signed in {len(cookies)} sessions in {time.perf_counter() - started:.1f} s; "
                      f"wrk -t {min(2, args.sessions)} -c {args.sessions}")
                found = run_wrk(base, work, "browsing", cookies, deal_ids, args.sessions, args.seconds)
                errors = report_wrk("browsing", found)
                waited = wait_idle(server.pid)
                print(f"  server idle again {waited:.0f} s after wrk stopped (requests wrk left in flight)")
                found = run_wrk(base, work, "healthz", cookies, deal_ids, args.sessions, args.seconds)
                errors += report_wrk("/healthz floor", found)
            else:
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
