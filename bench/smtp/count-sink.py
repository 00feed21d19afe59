"""A counting SMTP server for measuring the e-mail channel (README, "Performance"): accepts
every message (aiosmtpd), keeps nothing, and writes `seconds_since_start count` to OUT each
second, so a run's messages per second can be read off afterwards.

    python3 bench/smtp/count-sink.py PORT OUT
"""
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Count:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        return "250 2.0.0 Ok"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    handler = Count()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    t0 = time.monotonic()
    with open(out, "w") as f:
        while True:
            time.sleep(1)
            f.write(f"{time.monotonic() - t0:.1f} {handler.n}\n")
            f.flush()


if __name__ == "__main__":
    main()
