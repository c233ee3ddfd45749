"""Real local peers for notification tests: a tiny SMTP server (aiosmtpd is not installed) on a thread."""

import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Mail:
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    data: str = ""


class _SMTPHandler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        mail = Mail()
        self._say("220 localhost test SMTP")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 localhost")
            elif verb == "MAIL":
                mail = Mail(sender=line.split(":", 1)[1].strip(" <>"))
                self._say("250 OK")
            elif verb == "RCPT":
                mail.recipients.append(line.split(":", 1)[1].strip(" <>"))
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(chunk.decode("utf-8", "replace"))
                mail.data = "".join(lines)
                self.server.mails.append(mail)
                self._say("250 OK queued")
            elif verb == "QUIT":
                self._say("221 Bye")
                return
            else:
                self._say("250 OK")


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SMTPHandler)
        self.mails: list[Mail] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> "SMTPServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
