#!/usr/bin/env python3
"""A recording SMTP sink for the fault drills (Python's aiosmtpd).

Accepts every message on HOST:PORT and appends one line per accepted
message to --out: the Unix time it was accepted, its Message-ID and its
first recipient, tab-separated, flushed at once, so a drill can count what
arrived while the sink runs and after it was killed. --delay-ms holds each
message for that long before answering 250, like a real relay's latency,
which makes a wave of 1 000 emails last a few seconds instead of a blink.

    python3 benches/drills/sink.py --port 2525 --out /tmp/received.tsv

A message counts as received when its DATA has been read completely (the
line is written just before the 250 goes out): a client that dies while
waiting for the 250 may send it again, which the drill then counts as a
duplicate, as a real server would see it. Stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import re
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(?:\r?\n[ \t]+)?(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class Recorder:
    """aiosmtpd handler: records each message's Message-ID."""

    def __init__(self, path, delay):
        self.out = open(path, "a", encoding="utf-8", buffering=1)
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "replace")
        header_end = content.find(b"\r\n\r\n")
        headers = content if header_end < 0 else content[:header_end]
        found = MESSAGE_ID.search(headers)
        message_id = found.group(1).decode("ascii", "replace") if found else "-"
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else "-"
        with self.lock:
            self.out.write(f"{time.time():.6f}\t{message_id}\t{rcpt}\n")
            self.out.flush()
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True, help="file to append one line per accepted message to")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="hold each message this long before the 250")
    args = parser.parse_args()

    recorder = Recorder(args.out, args.delay_ms / 1000.0)
    controller = Controller(recorder, hostname=args.host, port=args.port, data_size_limit=10 * 1024 * 1024)
    controller.start()
    print(f"sink listening on {args.host}:{args.port}, recording to {args.out}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
