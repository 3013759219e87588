"""Shared plumbing for the fault drills in benches/drills/.

Processes, temporary folders and databases a drill makes are registered
with a `Resources` and released when the drill ends, also on Ctrl-C or
SIGTERM. Everything here is stdlib Python; the SMTP sink (sink.py) needs
aiosmtpd.
"""

import datetime
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BINARY = os.path.join(ROOT, "target", "release", "aftercare")
SINK = os.path.join(HERE, "sink.py")
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:55432/postgres"


def pg_bin_dir():
    """The folder of PostgreSQL's server binaries (initdb, pg_ctl)."""
    candidates = ["/usr/lib/postgresql/15/bin"]
    if os.path.isdir("/usr/lib/postgresql"):
        candidates += sorted(
            (os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")), reverse=True
        )
    for candidate in candidates:
        if os.access(os.path.join(candidate, "pg_ctl"), os.X_OK):
            return candidate
    sys.exit("PostgreSQL binaries not found under /usr/lib/postgresql")


# ------------------------------------------------------------------ output

START = time.monotonic()


def log(message):
    """Prints a line stamped with the seconds since the drill started."""
    print(f"[{time.monotonic() - START:7.1f}s] {message}", flush=True)


def verdict(passed, summary):
    """Prints the final one-line verdict and returns the exit status."""
    print(f"{'PASS' if passed else 'FAIL'}: {summary}", flush=True)
    return 0 if passed else 1


# --------------------------------------------------------------- resources


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived."""


def _raise_interrupted(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def install_signal_handlers():
    """SIGTERM and SIGHUP unwind like Ctrl-C, so `finally` blocks clean up.
    SIGINT gets Python's own handler even when the drill was started with
    it ignored (as `cmd &` does in a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)


class Resources:
    """What a drill started, released in reverse order by `close()`."""

    def __init__(self, keep=False):
        self.keep = keep
        self._undo = []  # (label, callable)

    def defer(self, label, action):
        self._undo.append((label, action))

    def tempdir(self, prefix):
        path = tempfile.mkdtemp(prefix=prefix)
        if self.keep:
            self.defer(f"keep {path}", lambda: print(f"kept {path}", flush=True))
        else:
            self.defer(f"remove {path}", lambda: shutil.rmtree(path, ignore_errors=True))
        return path

    def spawn(self, args, log_path, env=None, cwd=None):
        """Starts a process in its own session (so a Ctrl-C at the terminal
        reaches only the drill, which stops it in order) with stdout and
        stderr going to `log_path`."""
        out = open(log_path, "ab")
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            start_new_session=True,
        )
        out.close()
        self.defer(f"stop pid {proc.pid}", lambda: stop_process(proc))
        return proc

    def close(self):
        # Ctrl-C during clean-up must not leave things behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            while self._undo:
                label, action = self._undo.pop()
                try:
                    action()
                except Exception as error:  # keep cleaning up
                    print(f"clean-up step '{label}' failed: {error}", file=sys.stderr, flush=True)
        finally:
            signal.signal(signal.SIGINT, previous)


def stop_process(proc, grace=10.0):
    """SIGTERM, then SIGKILL after `grace` seconds; this process only."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------ HTTP


def http_get(port, path, headers=None, timeout=5.0):
    """GET without following redirects: (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_http(port, path="/healthz", timeout=120.0, proc=None, log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = ""
            if log_path and os.path.exists(log_path):
                with open(log_path, errors="replace") as f:
                    tail = "".join(f.readlines()[-30:])
            raise RuntimeError(f"the process on port {port} exited with {proc.returncode}:\n{tail}")
        try:
            status, _ = http_get(port, path, timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered 200 on 127.0.0.1:{port}{path} within {timeout:.0f} s")


def sign_in(port, email, password):
    """Signs in through the login form; returns the Cookie header value."""
    body = urllib.parse.urlencode({"email": email, "password": password, "next": "/board"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        cookies = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
        if response.status not in (302, 303) or not cookies:
            raise RuntimeError(f"signing in as {email} answered {response.status}")
        return "; ".join(cookies)
    finally:
        conn.close()


# -------------------------------------------------------------- PostgreSQL


def psql(url, sql, timeout=60):
    """Runs `sql` with psql against `url`; returns rows as lists of strings."""
    result = subprocess.run(
        ["psql", "-X", "-A", "-t", "-q", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({sql[:60]}...): {result.stderr.strip()}")
    return [line.split("\t") for line in result.stdout.splitlines() if line != ""]


def with_database(url, name):
    """`url` with its database replaced by `name`."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def as_postgres_user(args):
    """initdb and pg_ctl refuse to run as root: run them as `postgres` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + args
    return args


class PgCluster:
    """A throwaway PostgreSQL cluster in a temporary folder (like .ci/run):
    trust auth, fsync off, on 127.0.0.1:`port`."""

    def __init__(self, resources, port=None, max_connections=200):
        self.bin = pg_bin_dir()
        self.dir = resources.tempdir("aftercare-drill-pg.")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.port = port or free_port()
        self.options = (
            f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c max_connections={max_connections} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg(["initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--locale=C",
                  "--no-instructions"])
        resources.defer("stop PostgreSQL", self.stop)
        self.start()

    def _pg(self, args, check=True):
        cmd = as_postgres_user([os.path.join(self.bin, args[0])] + args[1:])
        result = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if check and result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def url(self, database="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self):
        self._pg(["pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-o", self.options, "start"])

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._pg(["pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"], check=False)

    def restart(self, mode="fast"):
        self._pg(["pg_ctl", "-D", self.data, "-l", self.logfile, "-m", mode, "-w", "-o", self.options, "restart"])

    def pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None


def create_database(resources, admin_url, name):
    """Creates database `name` on the server of `admin_url`; dropped on exit."""
    psql(admin_url, f'CREATE DATABASE "{name}"')

    def drop():
        psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    if resources.keep:
        resources.defer(f"keep database {name}", lambda: print(f"kept database {name}", flush=True))
    else:
        resources.defer(f"drop database {name}", drop)
    return with_database(admin_url, name)


# --------------------------------------------------------------- Aftercare


def prepare_binary(resources, binary, build, workdir):
    """Copies the release binary into the drill's folder, so a rebuild of
    target/ during the drill cannot swap it underneath the instances."""
    if build:
        log("cargo build --release")
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: run `cargo build --release` first (or pass --build)")
    copy = os.path.join(workdir, "aftercare")
    shutil.copy2(binary, copy)
    built = datetime.datetime.fromtimestamp(os.path.getmtime(binary), datetime.timezone.utc)
    log(f"using {binary} (built {built:%Y-%m-%d %H:%M:%S} UTC), copied to {copy}")
    return copy


def cli(binary, database_url, args, workdir, extra_env=None, timeout=600):
    """Runs `aftercare ARGS` to completion; returns its stdout."""
    env = dict(os.environ, AFTERCARE_DATABASE_URL=database_url, NO_COLOR="1",
               AFTERCARE_OUTBOX_DIR=os.path.join(workdir, "outbox"))
    env.update(extra_env or {})
    result = subprocess.run([binary] + args, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"aftercare {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout.strip()


class Instance:
    """One `aftercare serve` process."""

    def __init__(self, resources, binary, database_url, workdir, name, env=None, args=()):
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(workdir, f"{name}.log")
        environment = dict(os.environ)
        environment.update(
            AFTERCARE_DATABASE_URL=database_url,
            AFTERCARE_OUTBOX_DIR=os.path.join(workdir, f"outbox-{name}"),
            # The instance's name in job runs, leases and outbox claims is
            # "$HOSTNAME-pid-random": this tells the drill whose is whose.
            HOSTNAME=name,
            NO_COLOR="1",
        )
        environment.update(env or {})
        self.proc = resources.spawn(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--no-demo", *args],
            self.log_path, env=environment, cwd=workdir,
        )
        self.pid = self.proc.pid

    def wait_ready(self, timeout=120):
        wait_http(self.port, "/healthz", timeout, self.proc, self.log_path)

    def alive(self):
        return self.proc.poll() is None

    def log_lines(self, pattern=None, last=20):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path, errors="replace") as f:
            lines = [line.rstrip("\n") for line in f]
        if pattern:
            lines = [line for line in lines if pattern in line]
        return lines[-last:]


class Sink:
    """The recording SMTP sink (sink.py) as a separate process, so a drill
    can kill it and start it again on the same port."""

    def __init__(self, resources, workdir, port=None, delay_ms=0.0):
        self.resources = resources
        self.port = port or free_port()
        self.out = os.path.join(workdir, "received.tsv")
        self.log_path = os.path.join(workdir, "sink.log")
        self.delay_ms = delay_ms
        open(self.out, "a").close()
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.resources.spawn(
            [sys.executable, SINK, "--port", str(self.port), "--out", self.out, "--delay-ms", str(self.delay_ms)],
            self.log_path,
        )
        deadline = time.monotonic() + 20
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                with open(self.log_path, errors="replace") as f:
                    raise RuntimeError(f"the SMTP sink did not start:\n{f.read()[-2000:]}")
            time.sleep(0.1)

    def kill(self):
        """SIGKILL: the server vanishes, connections drop, the port refuses."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def received(self):
        """[(time, message_id, recipient)] in the order accepted."""
        rows = []
        with open(self.out, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:
                    rows.append((float(parts[0]), parts[1], parts[2]))
        return rows

    def count(self):
        with open(self.out, "rb") as f:
            return f.read().count(b"\n")


# ------------------------------------------------------------------ outbox


def outbox_counts(url):
    """{status: count} of the outbox's email rows."""
    return {s: int(n) for s, n in psql(url, "SELECT status, count(*) FROM outbox WHERE channel = 'email' GROUP BY 1")}


def fmt_counts(counts):
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty"


def prepare_wave(binary, url, workdir, as_of, digest=True):
    """Queues a wave through the app's own jobs: the survey planner as of
    `as_of` (waves that fell due in the 30 days before) and, when `digest`,
    the weekly digests of that week. Returns the jobs' reports."""
    reports = [cli(binary, url, ["jobs", "run", "survey-planner", "--as-of", as_of.isoformat()], workdir)]
    if digest:
        reports.append(cli(binary, url, ["jobs", "run", "weekly-digest", "--as-of", as_of.isoformat()], workdir))
    return reports


def setup_wave(res, binary, workdir, admin_url, db_name, deals, as_of=None, digest=True):
    """Creates the drill's database, loads `aftercare demo --deals N` and
    queues a wave (see `prepare_wave`). Returns (database URL, {kind: n})."""
    url = create_database(res, admin_url, db_name)
    log(f"database {url}")
    log(f"aftercare demo --deals {deals}")
    log("  " + cli(binary, url, ["demo", "--deals", str(deals)], workdir))
    as_of = as_of or today_utc() + datetime.timedelta(days=30)
    for report in prepare_wave(binary, url, workdir, as_of, digest=digest):
        log(f"  {report}")
    kinds = {k: int(n) for k, n in psql(url, "SELECT kind, count(*) FROM outbox WHERE channel = 'email' GROUP BY 1")}
    total = sum(kinds.values())
    log(f"wave queued in the outbox as of {as_of}: {total} emails ("
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")")
    return url, kinds


def release_wave(url):
    """The jobs ran as of a business date in the future, so their rows are
    due then: make them due now. Only the outbox's `next_attempt_at` moves."""
    rows = psql(url, "WITH r AS (UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending' "
                     "AND next_attempt_at > now() RETURNING 1) SELECT count(*) FROM r")
    return int(rows[0][0])


def compare(url, sink):
    """Every email row of the outbox against what the sink recorded."""
    expected = {}
    for message_id, status, attempts in psql(url, "SELECT message_id, status, attempts FROM outbox WHERE channel = 'email'"):
        expected[message_id] = (status, int(attempts))
    copies = {}
    for _, message_id, _ in sink.received():
        copies[message_id] = copies.get(message_id, 0) + 1
    missing = sorted(m for m in expected if m not in copies)
    unknown = sorted(m for m in copies if m not in expected)
    duplicates = sum(n - 1 for m, n in copies.items() if m in expected)
    duplicated = sorted(m for m, n in copies.items() if n > 1)
    most = max(copies.values(), default=0)
    statuses = {}
    for status, _ in expected.values():
        statuses[status] = statuses.get(status, 0) + 1
    attempts = {}
    for _, n in expected.values():
        attempts[n] = attempts.get(n, 0) + 1
    return {
        "rows": len(expected), "received": sum(copies.values()), "distinct": len(copies), "missing": missing,
        "unknown": unknown, "duplicates": duplicates, "duplicated": duplicated, "most_copies": most,
        "statuses": statuses, "attempts": attempts,
    }


def today_utc():
    return datetime.datetime.now(datetime.timezone.utc).date()


def drill(args, run):
    """Runs `run(args, resources)` with cleanup on every exit; returns the
    exit code (0 PASS, 1 FAIL, 130 Ctrl-C, 143 SIGTERM)."""
    install_signal_handlers()
    res = Resources(keep=args.keep)
    try:
        return run(args, res)
    except KeyboardInterrupt:
        print("interrupted; cleaning up", flush=True)
        return 130
    except Interrupted as signal_name:
        print(f"{signal_name}; cleaning up", flush=True)
        return 143
    except RuntimeError as error:
        print(error, file=sys.stderr, flush=True)
        return verdict(False, str(error).splitlines()[0])
    finally:
        res.close()
