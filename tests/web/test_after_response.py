"""Publishing waits until the response is sent: the client never waits on the broker."""

from __future__ import annotations

import logging

from flask import Flask
from flask.testing import FlaskClient

from config.logging import request_id_var
from smartcompute.jobs.models import Job
from tests.support import free_port, job_body
from web.after_response import AfterResponse, after_response


def _app_leaving_work(work) -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def view():
        request_id_var.set("req-1")
        for callback in work:
            after_response(callback)
        return "answered"

    app.wsgi_app = AfterResponse(app.wsgi_app)
    return app


def test_work_left_for_after_the_response_runs_when_the_server_closes_the_response():
    ran = []
    response = FlaskClient(_app_leaving_work([lambda: ran.append(request_id_var.get())])).get("/", buffered=False)
    assert response.get_data(as_text=True) == "answered" and ran == []
    response.close()
    assert ran == ["req-1"]  # in the request's own context, so its log lines carry its request id


def test_work_that_fails_after_the_response_is_logged_and_the_rest_still_runs(caplog):
    ran = []

    def fails():
        raise RuntimeError("broker exploded")

    with caplog.at_level(logging.ERROR, logger="smartcompute.web"):
        FlaskClient(_app_leaving_work([fails, lambda: ran.append("second")])).get("/", buffered=True)
    assert ran == ["second"]
    assert "work left for after the response failed" in caplog.text and "broker exploded" in caplog.text


def test_a_job_is_answered_before_its_broker_is_tried(rabbitmq_env, account, sessions):
    from web import create_app

    unreachable = create_app({**rabbitmq_env, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"})
    response = FlaskClient(unreachable).post(
        "/v1/jobs", json=job_body(points=50), headers=account.headers, buffered=False
    )
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    with sessions() as session:
        assert session.get(Job, job_id).published_at is not None  # not tried yet: sent as far as anyone knows
    response.close()  # what the server does once the 202 is on the wire
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job.status == "queued" and job.published_at is None  # the re-publisher will send it
