"""Answers to requests the app never sees, written straight to the client's socket in the API's one error
format (problem+json): what gunicorn's parser refuses, and what the worker's event loop refuses before it
(web/gunicorn_worker.py). Each detail is fixed per kind of error and never echoes the request, which may be
anything a client sent."""
from __future__ import annotations

import json

from gunicorn.http import errors
from gunicorn.http.message import Request
from gunicorn.http.unreader import IterUnreader
from gunicorn.workers.gthread import TConn

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


TOO_SLOW = Problem(408, "the request did not arrive in time")
HEAD_TOO_LARGE = Problem(431, "the request has more or larger header fields than this API accepts")
BARE_LINE_FEED = Problem(400, "the request's lines must end in CRLF")


def refuses_head(conn: TConn, head: bytes) -> bool:
    """Whether gunicorn's parser refuses `head` as the request thread will parse it: on this connection, as its
    next request (the PROXY protocol line is read on the first alone)."""
    number = conn.parser.req_count + 1 if conn.parser else 1
    try:
        Request(conn.cfg, IterUnreader([head]), conn.client, number)
    except Exception:  # whatever the parser raises, the thread meets too, and answers it (handle_error)
        return True
    return False
