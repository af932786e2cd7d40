"""An SMTP server for the alerting tests that speaks TLS.

Usage: smtp_tls_server.py MODE PORT MAILDIR CA_FILE
MODE is `starttls` (plain connection, STARTTLS required before AUTH and MAIL) or `tls`
(implicit TLS from the first byte). A fresh certificate authority made with trustme signs
the server certificate for 127.0.0.1 and localhost; its PEM is written to CA_FILE before
the server listens, so the client under test can trust exactly that authority.
"""

import signal
import ssl
import sys
import threading

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def main() -> None:
    mode, port, maildir, ca_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    authority = trustme.CA()
    authority.cert_pem.write_to_path(ca_file)
    server_cert = authority.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    handler = Mailbox(maildir)
    if mode == "starttls":
        controller = Controller(handler, hostname="127.0.0.1", port=port,
                                tls_context=context, require_starttls=True)
    elif mode == "tls":
        controller = Controller(handler, hostname="127.0.0.1", port=port,
                                ssl_context=context)
    else:
        sys.exit(f"unknown mode {mode}")
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
