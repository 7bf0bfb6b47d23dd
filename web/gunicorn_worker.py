"""gunicorn's request worker, answering the requests it cannot parse with problem+json too.

A request line over gunicorn's limit, a malformed header or an unknown transfer coding never reaches Flask:
gunicorn answers it itself, with an HTML page. This worker answers those in the API's one error format. The
detail is fixed per kind of error and never echoes the request, which may be anything a client sent.
"""
from __future__ import annotations

import json

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

from web.problems import PROBLEM_JSON
from web.security import SECURITY_HEADERS

_INTERNAL = (500, "Internal Server Error", "internal-error", "an unexpected error occurred; it was logged")
# (status, reason phrase, problem kind, detail), by the parser's exception; the first match wins.
_UNPARSABLE = (
    (errors.ConfigurationProblem, *_INTERNAL),  # the server's settings, not the request, are at fault
    (errors.LimitRequestLine, 414, "URI Too Long", "uri-too-long",
     "the request line is longer than this API accepts"),
    (errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "request-header-fields-too-large",
     "the request has more or larger header fields than this API accepts"),
    (errors.UnsupportedTransferCoding, 501, "Not Implemented", "not-implemented",
     "the request's transfer coding is not supported"),
    (errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden", "proxy requests from this address are refused"),
    ((errors.InvalidHeader, errors.InvalidHeaderName, errors.ObsoleteFolding), 400, "Bad Request", "bad-request",
     "the request has a malformed header field"),
    # the rest: a malformed request line, method, version, proxy line or scheme header
    (errors.ParseException, 400, "Bad Request", "bad-request", "the request is not valid HTTP/1.1"),
)


def problem_for(error: BaseException) -> tuple[int, str, str, str]:
    """(status, reason phrase, problem kind, detail) for an error gunicorn met before the app saw the request."""
    for classes, *answer in _UNPARSABLE:
        if isinstance(error, classes):
            return tuple(answer)
    return _INTERNAL


def problem_bytes(status: int, reason: str, kind: str, detail: str) -> bytes:
    body = json.dumps({"type": f"/problems/{kind}", "title": reason, "status": status, "detail": detail}).encode()
    headers = {"Connection": "close", "Content-Type": PROBLEM_JSON, "Content-Length": str(len(body)),
               "Cache-Control": "no-store", **SECURITY_HEADERS}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n").encode("latin-1") + body


class ProblemThreadWorker(ThreadWorker):
    def handle_error(self, req, client, addr, exc):
        status, reason, kind, detail = problem_for(exc)
        if status == 500:
            self.log.exception("error handling a request before the app saw it")
        else:
            peer = addr[0] if addr else ""  # a unix socket has no address
            self.log.warning("unparsable request from ip=%s answered %s: %.200r", peer, status, str(exc))
        try:
            util.write_nonblock(client, problem_bytes(status, reason, kind, detail))
        except OSError:
            self.log.debug("could not send the error response")
