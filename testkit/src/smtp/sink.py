"""A real SMTP server for Orderly's tests (aiosmtpd): every message it accepts is parsed with
Python's `email` package and written as one JSON file in the directory given, so a test reads
what a mail client would see: headers, the text part, the HTML part.

    python3 sink.py DIR PORT_FILE [--fail-first N] [--refuse ADDRESS] [--auth USER:PASSWORD] [--hold-first SECONDS]

- Listens on 127.0.0.1, a free port, written to PORT_FILE once it is listening.
- --fail-first N: the first N messages get `451 4.3.0 try again later` (a temporary failure).
- --refuse ADDRESS: messages to ADDRESS get `550 5.1.1 mailbox unavailable` (a permanent one).
- --auth USER:PASSWORD: AUTH PLAIN/LOGIN required, checked against these.
- --tls-cert PEM --tls-key PEM: STARTTLS offered and required before anything else (with
  --implicit-tls: TLS from the first byte instead).
- --hold-first SECONDS: the first message is written, then its 250 reply held this long (the
  sender has not heard it was accepted: a crash then makes it send the message again).
"""
import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out, fail_first, refuse, hold_first):
        self.out = out
        self.hold_left = 1 if hold_first else 0
        self.hold_secs = hold_first
        self.fail_left = fail_first
        self.refuse = (refuse or "").lower()
        self.seq = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse and address.lower() == self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return "451 4.3.0 try again later"
            self.seq += 1
            seq = self.seq
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "seq": seq,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k.lower(): str(v) for k, v in msg.items()},
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        tmp = os.path.join(self.out, f".{seq:06}.json")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(tmp, os.path.join(self.out, f"{seq:06}.json"))
        with self.lock:
            hold = self.hold_left > 0
            self.hold_left = 0
        if hold:
            # Received, but the sender hears nothing yet: a crash now leaves it unacknowledged.
            await asyncio.sleep(self.hold_secs)
        return f"250 2.0.0 Ok: queued as SINK{seq:06}"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok)
    return check


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("port_file")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--refuse")
    p.add_argument("--auth")
    p.add_argument("--hold-first", type=float, default=0)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--implicit-tls", action="store_true")
    a = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kwargs = {}
    if a.auth:
        user, password = a.auth.split(":", 1)
        kwargs = dict(authenticator=authenticator(user, password), auth_required=True,
                      auth_require_tls=bool(a.tls_cert and not a.implicit_tls))
    if a.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.tls_cert, a.tls_key)
        if a.implicit_tls:
            kwargs["ssl_context"] = context
        else:
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
    controller = Controller(Sink(a.dir, a.fail_first, a.refuse, a.hold_first), hostname="127.0.0.1",
                            port=port, **kwargs)
    controller.start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, a.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        if os.getppid() == 1:  # the test that started us is gone
            break
    controller.stop()


if __name__ == "__main__":
    sys.exit(main())
