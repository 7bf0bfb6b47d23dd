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

from web.problems import PROBLEM_JSON, Problem, internal_error, problem_document, title_of
from web.security import SECURITY_HEADERS

# (status, detail), by the parser's exception; the first match wins; no status: an internal error. Titles
# and kinds are the API's own (web/problems.py).
_UNPARSABLE = (
    (errors.ConfigurationProblem, None, None),  # the server's settings, not the request, are at fault
    (errors.LimitRequestLine, 414, "the request line is longer than this API accepts"),
    (errors.LimitRequestHeaders, 431, "the request has more or larger header fields than this API accepts"),
    (errors.UnsupportedTransferCoding, 501, "the request's transfer coding is not supported"),
    (errors.ForbiddenProxyRequest, 403, "proxy requests from this address are refused"),
    ((errors.InvalidHeader, errors.InvalidHeaderName, errors.ObsoleteFolding), 400,
     "the request has a malformed header field"),
    # the rest: a malformed request line, method, version, proxy line or scheme header
    (errors.ParseException, 400, "the request is not valid HTTP/1.1"),
)


def problem_for(error: BaseException) -> Problem:
    """The answer to an error gunicorn met before the app saw the request."""
    status, detail = next(((status, detail) for classes, status, detail in _UNPARSABLE
                           if isinstance(error, classes)), (None, None))
    return Problem(status, detail) if status else internal_error()


def problem_bytes(problem: Problem) -> bytes:
    body = json.dumps(problem_document(problem, None)).encode()
    headers = {"Connection": "close", "Content-Type": PROBLEM_JSON, "Content-Length": str(len(body)),
               "Cache-Control": "no-store", **SECURITY_HEADERS}
    head = f"HTTP/1.1 {problem.status} {title_of(problem.status)}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n").encode("latin-1") + body


class ProblemThreadWorker(ThreadWorker):
    def handle_error(self, req, client, addr, exc):
        problem = problem_for(exc)
        if problem.status == 500:
            self.log.exception("error handling a request before the app saw it")
        else:
            peer = addr[0] if addr else ""  # a unix socket has no address
            self.log.warning("unparsable request from ip=%s answered %s: %.200r", peer, problem.status, str(exc))
        try:
            util.write_nonblock(client, problem_bytes(problem))
        except OSError:
            self.log.debug("could not send the error response")
