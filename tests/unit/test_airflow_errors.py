"""How the REST boundary turns Airflow's answers into afkit's errors (no network: the client is never asked to send)."""

from __future__ import annotations

import base64
import json

import pytest
from toolkit.airflow import ErrorAnswer

from toolkit.airflow import AirflowClient, Call
from toolkit.airflow.client import _jwt_expiry
from toolkit.config import ConnectionSettings
from toolkit.errors import (
    AirflowServerError,
    AuthenticationFailed,
    BadInput,
    Conflict,
    ExitCode,
    NotFound,
    PermissionDenied,
)

URL = "http://airflow.test:8080"


def _client(**settings) -> AirflowClient:
    client = AirflowClient(ConnectionSettings(url=URL, **settings), retry_backoff=0)
    client._server_checked, client._airflow_version = True, "3.3.2"  # no version probe: nothing listens there
    return client


def _error(status: int, detail: object = "boom") -> ErrorAnswer:
    return ErrorAnswer(status, json.dumps({"detail": detail}), "x")


def test_401_with_password_names_the_session_problem():
    client = _client(username="ops", password="pw")
    client._token = "issued-then-revoked"
    err = client._translate(Call("list pools"), _error(401, "Token Expired"))
    assert isinstance(err, AuthenticationFailed) and err.exit_code == ExitCode.AUTH
    assert "HTTP 401: Token Expired" in str(err)


def test_401_without_any_credentials_says_what_to_give():
    err = _client()._translate(Call("list pools"), _error(401))
    assert "requires authentication: give --username/--password or --token" in str(err)


def test_401_with_a_token_only_suggests_renewal():
    err = _client(token="t")._translate(Call("list pools"), _error(401))
    assert "rejected the token" in str(err) and "may have expired" in str(err)


def test_403_names_user_and_missing_permission():
    call = Call("pause DAG 'd'", permission="edit access to DAG 'd'")
    err = _client(username="viewer", password="pw")._translate(call, _error(403, "Forbidden"))
    assert isinstance(err, PermissionDenied)
    assert str(err).startswith("user 'viewer' lacks edit access to DAG 'd' on Airflow at http://airflow.test:8080")


def test_403_for_an_invalid_jwt_is_an_authentication_problem():
    err = _client(token="t")._translate(Call("list pools"), _error(403, "Invalid JWT token"))
    assert isinstance(err, AuthenticationFailed) and "rejected the token as invalid" in str(err)


def test_404_names_the_resource():
    err = _client(token="t")._translate(Call("read DAG 'x'", resource="DAG 'x'"), _error(404, "DAG not found"))
    assert isinstance(err, NotFound) and err.exit_code == ExitCode.NOT_FOUND
    assert str(err) == "DAG 'x' does not exist on Airflow at http://airflow.test:8080 (DAG not found)"


def test_409_quotes_airflow():
    err = _client(token="t")._translate(Call("create a backfill of DAG 'd'"), _error(409, "already running"))
    assert isinstance(err, Conflict) and err.exit_code == ExitCode.CONFLICT
    assert str(err) == "Airflow refused to create a backfill of DAG 'd' (HTTP 409): already running"


def test_5xx_and_validation_errors():
    err = _client(token="t")._translate(Call("list pools"), _error(500, "Internal Server Error"))
    assert isinstance(err, AirflowServerError) and err.exit_code == ExitCode.SERVER and "HTTP 500" in str(err)
    detail = [{"loc": ["body", "from_date"], "msg": "invalid datetime"}]
    err = _client(token="t")._translate(Call("create a backfill"), _error(422, detail))
    assert isinstance(err, BadInput) and err.exit_code == ExitCode.BAD_INPUT
    assert str(err) == "Airflow rejected the request to create a backfill (HTTP 422): from_date: invalid datetime"


def test_reads_are_retried_on_503_but_writes_are_not():
    client = _client(token="t")
    answers = [_error(503), _error(503), "ok"]

    def flaky(**_):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert client.call(Call("list pools"), flaky) == "ok"
    answers[:] = [_error(503), "ok"]
    with pytest.raises(AirflowServerError, match="HTTP 503"):
        client.call(Call("create a backfill", idempotent=False), flaky)
    assert answers == ["ok"]  # the write was attempted exactly once


def test_jwt_expiry_is_read_without_verifying():
    payload = base64.urlsafe_b64encode(json.dumps({"exp": 1234}).encode()).rstrip(b"=").decode()
    assert _jwt_expiry(f"h.{payload}.s") == 1234.0
    assert _jwt_expiry("not-a-jwt") is None
