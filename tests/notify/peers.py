"""Real local peers for notification tests: a tiny SMTP server (aiosmtpd is not installed) on a thread, an SMS
gateway and a group robot on pytest-httpserver."""

import json
import socketserver
import threading
from dataclasses import dataclass, field

from werkzeug import Response


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


class SmsGateway:
    """A generic JSON SMS gateway on pytest-httpserver: answers OK to real numbers and refuses masked ones (as
    Aliyun does); `phones` lists the numbers it was asked to text."""

    PATH = "/sms"

    def __init__(self, httpserver) -> None:
        self.httpserver = httpserver
        httpserver.expect_request(self.PATH).respond_with_handler(self._answer)

    def _answer(self, request) -> Response:
        body = json.loads(request.get_data())
        if "*" in body["phone"]:
            return Response(json.dumps({"code": "isv.MOBILE_NUMBER_ILLEGAL", "message": "非法手机号"}))
        return Response(json.dumps({"code": "OK", "message": "OK"}), content_type="application/json")

    @property
    def url(self) -> str:
        return self.httpserver.url_for(self.PATH)

    @property
    def phones(self) -> list[str]:
        return [json.loads(request.get_data())["phone"] for request, _response in self.httpserver.log]


class Robot:
    """A WeCom / DingTalk group robot on pytest-httpserver that answers every message with `errcode` (0: taken;
    310000: keyword missing, a refusal in HTTP 200). `answer` changes what it says from then on."""

    PATH = "/robot/send"

    def __init__(self, httpserver, errcode: int = 0) -> None:
        self.httpserver = httpserver
        self.errcode = errcode
        httpserver.expect_request(self.PATH).respond_with_handler(self._answer)

    def answer(self, errcode: int) -> None:
        self.errcode = errcode

    def _answer(self, request) -> Response:
        errmsg = "ok" if self.errcode == 0 else "keywords not in content"
        return Response(json.dumps({"errcode": self.errcode, "errmsg": errmsg}), content_type="application/json")

    @property
    def url(self) -> str:
        return self.httpserver.url_for(f"{self.PATH}?access_token=t0k")

    @property
    def messages(self) -> list[dict]:
        return [json.loads(request.get_data()) for request, _response in self.httpserver.log]
