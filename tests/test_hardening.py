"""Credentials, bad stores, dead chiefs and racing starts (issue 12).

- `redact` / `credentials_in_environment` / the preflight of a store
  (`lrdecay.tracking.uri`), against real stores: SQLite files, read-only
  folders, a real `mlflow server --app-name basic-auth`.
- Two real processes starting the same search at once make one parent run.
- A worker whose chief is killed (SIGKILL) notices within its bound.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lrdecay.tracking import uri as tracking_uri
from lrdecay.tuning.record import project_files
from mlflow_server import MlflowServer, free_port

ADMIN = ("admin", "Adm1n-s3cret-pw")
# The preflight's own tests give a busy machine time; the CLI's keep 9 s.
BUDGET = 60.0
READER = ("reader", "Read3r-s3cret-pw")


# -- redaction --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://admin:pw@10.0.0.5:5000", "http://admin:***@10.0.0.5:5000"),
        ("https://u:p%40ss@host/mlflow/", "https://u:***@host/mlflow/"),
        ("https://TOKEN123@host", "https://***@host"),
        ("http://host:5000/?token=abc&x=1", "http://host:5000/?token=***&x=1"),
        ("http://h/?access_token=a&sig=b&Password=c", None),
        ("postgresql://user:pw@db:5432/mlflow", "postgresql://user:***@db:5432/mlflow"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("", ""),
        (None, None),
    ],
)
def test_redact(uri: str | None, shown: str | None) -> None:
    if uri == "http://h/?access_token=a&sig=b&Password=c":
        shown = "http://h/?access_token=***&sig=***&Password=***"
    assert tracking_uri.redact(uri) == shown


def test_redact_text_masks_uris_and_mlflow_secrets() -> None:
    text = (
        "API request to http://admin:hunter22@h:5000/api failed; "
        "token tok-9876 rejected"
    )
    environ = {"MLFLOW_TRACKING_TOKEN": "tok-9876"}
    assert tracking_uri.redact_text(text, environ) == (
        "API request to http://admin:***@h:5000/api failed; token *** rejected"
    )


def test_credentials_in_environment_hands_them_to_mlflow_and_restores() -> None:
    environ = {"MLFLOW_TRACKING_PASSWORD": "before"}
    with tracking_uri.credentials_in_environment(
        "http://ann:p%3Aw@h:5000/x", environ
    ) as uri:
        assert uri == "http://h:5000/x"
        assert environ == {
            "MLFLOW_TRACKING_USERNAME": "ann",
            "MLFLOW_TRACKING_PASSWORD": "p:w",
        }
    assert environ == {"MLFLOW_TRACKING_PASSWORD": "before"}
    with (
        pytest.raises(KeyError),
        tracking_uri.credentials_in_environment("http://a:b@h", environ),
    ):
        raise KeyError("inside")
    assert environ == {"MLFLOW_TRACKING_PASSWORD": "before"}
    # No userinfo: the URI and the environment stay as they are.
    with tracking_uri.credentials_in_environment("sqlite:///x.db", environ) as uri:
        assert uri == "sqlite:///x.db"
        assert environ == {"MLFLOW_TRACKING_PASSWORD": "before"}


# -- preflight of local stores ----------------------------------------------------


@contextlib.contextmanager
def unwritable_folder(root: Path) -> Iterator[Path]:
    """A folder no one can create a file in: mode 0555, or a read-only tmpfs."""
    folder = root / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    mounted = False
    try:
        if os.access(folder, os.W_OK):  # root ignores the mode
            folder.chmod(0o755)
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                capture_output=True,
            )
            if done.returncode != 0:
                pytest.skip("cannot make a read-only folder here")
            mounted = True
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)
        folder.chmod(0o755)


def _message(uri: str, **kwargs: Any) -> str:
    with pytest.raises(tracking_uri.TrackingUnreachable) as caught:
        tracking_uri.check_reachable(uri, budget=BUDGET, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_preflight_of_local_stores(tmp_path: Path) -> None:
    tracking_uri.check_reachable(f"sqlite:///{tmp_path}/ok.db")
    assert list(tmp_path.iterdir()) == []  # the write check leaves nothing
    with unwritable_folder(tmp_path) as folder:
        message = _message(f"sqlite:///{folder}/mlflow.db")
        reason = "Permission denied" if os.geteuid() else "Read-only file system"
        assert message == (
            f"Tracking URI 'sqlite:///{folder}/mlflow.db': cannot write in "
            f"'{folder}' ({reason}); pass a --tracking-uri in a writable folder "
            "(e.g. sqlite:///mlflow.db in the current directory)."
        )
    assert _message(f"sqlite:///{tmp_path}/no/such/mlflow.db") == (
        f"Tracking URI 'sqlite:///{tmp_path}/no/such/mlflow.db': directory "
        f"'{tmp_path}/no/such' does not exist; create it or pass another "
        "--tracking-uri."
    )
    (tmp_path / "runs").mkdir()
    assert _message(str(tmp_path / "runs"), environ={}) == (
        f"Tracking URI '{tmp_path}/runs' is a folder (MLflow's file store, which "
        "MLflow 3 refuses unless MLFLOW_ALLOW_FILE_STORE=true); use a SQLite "
        f"file: --tracking-uri sqlite:///{tmp_path}/runs/mlflow.db"
    )
    tracking_uri.check_reachable(
        f"file://{tmp_path}/runs", environ={"MLFLOW_ALLOW_FILE_STORE": "true"}
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readonly", "runs"]


# -- the parent-run race ----------------------------------------------------------

RACER = textwrap.dedent(
    """
    import sys, time
    import mlflow
    from lrdecay.tuning.record import project_files, runs

    uri, project_path, start_at, reuse = sys.argv[1:5]
    client = mlflow.MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("race").experiment_id
    while time.time() < float(start_at):
        time.sleep(0.001)
    run_id, found = runs.claim_parent_run(
        client, experiment_id, "racing", project_path, uri,
        reuse=reuse == "1", since=project_files.process_started(),
    )
    print(run_id, "found" if found is not None else "created", flush=True)
    """
)


@pytest.mark.parametrize("reuse", [False, True], ids=["new-search", "resume"])
def test_two_processes_starting_one_search_make_one_parent(
    tmp_path: Path, reuse: bool
) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.MlflowClient(uri).create_experiment("race")  # the store exists
    project_path = str(tmp_path / "project" / "racing")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    start_at = time.time() + 8  # both have imported MLflow by then
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                uri,
                project_path,
                str(start_at),
                "1" if reuse else "0",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    lines = sorted(out.split() for out, _ in outputs)
    assert lines[0][0] == lines[1][0]  # one parent run id
    assert sorted(line[1] for line in lines) == ["created", "found"]
    client = mlflow.MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("race").experiment_id
    parents = client.search_runs(
        [experiment_id], filter_string="tags.`lrdecay.search` = 'racing'"
    )
    assert [run.info.run_id for run in parents] == [lines[0][0]]
    assert project_files.read_marker(project_path) == lines[0][0]
    assert sorted(os.listdir(project_path)) == [project_files.MARKER_FILE]  # lock gone


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / project_files.LOCK_FILE).write_text(
        f"{socket.gethostname()} {dead.pid}"
    )
    lock = tmp_path / project_files.LOCK_FILE
    with project_files.parent_run_lock(str(tmp_path), timeout=2):
        assert lock.read_text().endswith(f" {os.getpid()}")
    assert list(tmp_path.iterdir()) == []


def test_a_held_lock_times_out_naming_the_file(tmp_path: Path) -> None:
    with (
        project_files.parent_run_lock(str(tmp_path)),
        pytest.raises(TimeoutError, match=project_files.LOCK_FILE),
        project_files.parent_run_lock(str(tmp_path), timeout=0.3),
    ):
        pass


# -- a real basic-auth server -----------------------------------------------------


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with MlflowServer(
        tmp_path_factory.mktemp("auth"), admin=ADMIN, start_timeout=240
    ) as server:
        _add_user(server, *READER)
        # Both logins are checked once here, then cached by the server.
        for user in (ADMIN, READER):
            tracking_uri.check_reachable(
                _with_userinfo(server.uri, *user), environ={}, budget=BUDGET
            )
        yield server


def _add_user(server: MlflowServer, user: str, password: str) -> None:
    import base64
    import json
    import urllib.request

    pair = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    request = urllib.request.Request(
        f"{server.uri}/api/2.0/mlflow/users/create",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {pair}"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def _with_userinfo(uri: str, user: str, password: str) -> str:
    return uri.replace("http://", f"http://{user}:{password}@")


@pytest.mark.slow
def test_preflight_of_a_basic_auth_server(auth_server: MlflowServer) -> None:
    import mlflow

    uri = auth_server.uri
    assert _message(uri, environ={}) == (
        f"401 from {uri}: set MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD (the server requires a login)."
    )
    wrong = _with_userinfo(uri, "admin", "wrong-pw")
    assert _message(wrong, environ={}) == (
        f"401 from {_with_userinfo(uri, 'admin', '***')}: the server rejected the "
        "login of user 'admin' (from the URI); check the user name and password."
    )
    environ = {
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": "wrong-pw",
    }
    assert "(from MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD)" in _message(
        uri, environ=environ
    )
    # Right credentials, in the URI or in MLflow's variables.
    tracking_uri.check_reachable(_with_userinfo(uri, *ADMIN), environ={}, budget=BUDGET)
    admin_env = {
        "MLFLOW_TRACKING_USERNAME": ADMIN[0],
        "MLFLOW_TRACKING_PASSWORD": ADMIN[1],
    }
    tracking_uri.check_reachable(
        uri, experiment_name="Default", environ=admin_env, budget=BUDGET
    )
    # A user who may read but not create runs in the admin's experiment.
    reader_env = {
        "MLFLOW_TRACKING_USERNAME": READER[0],
        "MLFLOW_TRACKING_PASSWORD": READER[1],
    }
    tracking_uri.check_reachable(uri, environ=reader_env, budget=BUDGET)
    assert _message(uri, experiment_name="Default", environ=reader_env) == (
        f"403 from {uri}: user 'reader' may not create runs in experiment "
        "'Default'; ask the server's admin for the permission, or pass another "
        "--experiment."
    )
    # The write check created nothing.
    with tracking_uri.credentials_in_environment(_with_userinfo(uri, *ADMIN)) as clean:
        assert clean == uri
        client = mlflow.MlflowClient(clean)
        assert client.search_runs(["0"]) == []
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ


@pytest.mark.slow
def test_preflight_of_a_server_that_is_down() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    message = _message(_with_userinfo(uri, "admin", "pw-in-uri"))
    assert time.monotonic() - started < 10
    assert message.startswith(
        f"Cannot reach the MLflow tracking server at "
        f"{_with_userinfo(uri, 'admin', '***')} ("
    )
    assert "pw-in-uri" not in message


# -- the command line: each bad store is one line, exit 2, nothing created --------

LRDECAY = [sys.executable, "-m", "lrdecay"]


def _lrdecay(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
    ):
        environ.pop(name, None)
    environ.update(env or {})
    return subprocess.run(
        [*LRDECAY, *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_bad_stores_stop_the_command_at_once(
    tmp_path: Path, auth_server: MlflowServer
) -> None:
    server = auth_server.uri
    down = f"http://127.0.0.1:{free_port()}"
    secret = "Wr0ng-pw-in-uri"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (tmp_path / "plain").mkdir()
    wrong_env = {
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": secret,
    }
    with unwritable_folder(tmp_path) as readonly:
        cases = [
            # (what, --tracking-uri, environment, the line on stderr)
            (
                "server down",
                down,
                {},
                f"lrdecay: error: Cannot reach the MLflow tracking server at {down} (",
            ),
            (
                "401 without credentials",
                server,
                {},
                f"lrdecay: error: 401 from {server}: set MLFLOW_TRACKING_USERNAME "
                "and MLFLOW_TRACKING_PASSWORD (the server requires a login).",
            ),
            (
                "wrong password",
                server,
                wrong_env,
                f"lrdecay: error: 401 from {server}: the server rejected the login "
                "of user 'admin' (from MLFLOW_TRACKING_USERNAME/"
                "MLFLOW_TRACKING_PASSWORD); check the user name and password.",
            ),
            (
                "wrong password in the URI",
                _with_userinfo(server, "admin", secret),
                {},
                "lrdecay: error: 401 from "
                f"{_with_userinfo(server, 'admin', '***')}: the server rejected "
                "the login of user 'admin' (from the URI); check the user name "
                "and password.",
            ),
            (
                "user without permission",
                server,
                {
                    "MLFLOW_TRACKING_USERNAME": READER[0],
                    "MLFLOW_TRACKING_PASSWORD": READER[1],
                },
                f"lrdecay: error: 403 from {server}: user 'reader' may not create "
                "runs in experiment 'Default'; ask the server's admin for the "
                "permission, or pass another --experiment.",
            ),
            (
                "read-only SQLite folder",
                f"sqlite:///{readonly}/mlflow.db",
                {},
                f"lrdecay: error: Tracking URI 'sqlite:///{readonly}/mlflow.db': "
                f"cannot write in '{readonly}' (",
            ),
            (
                "SQLite folder missing",
                f"sqlite:///{tmp_path}/missing/mlflow.db",
                {},
                f"lrdecay: error: Tracking URI 'sqlite:///{tmp_path}/missing/"
                f"mlflow.db': directory '{tmp_path}/missing' does not exist;",
            ),
            (
                "plain folder",
                str(tmp_path / "plain"),
                {},
                f"lrdecay: error: Tracking URI '{tmp_path}/plain' is a folder "
                "(MLflow's file store, which MLflow 3 refuses unless "
                "MLFLOW_ALLOW_FILE_STORE=true); use a SQLite file: --tracking-uri "
                f"sqlite:///{tmp_path}/plain/mlflow.db",
            ),
        ]
        for what, uri, env, line in cases:
            experiment = ["--experiment", "Default"] if uri == server else []
            started = time.monotonic()
            result = _lrdecay(
                "search", "--tracking-uri", uri, *experiment, cwd=cwd, env=env
            )
            took = time.monotonic() - started
            assert result.returncode == 2, (what, result.stderr)
            assert result.stderr.count("\n") == 1, (what, result.stderr)
            assert result.stderr.startswith(line), (what, result.stderr)
            assert result.stdout == "", what
            assert took < 10, (what, took)
            assert secret not in result.stderr
            assert list(cwd.iterdir()) == [], what  # no mlflow.db, no project
    # The server holds no run either (the write check created none).
    import mlflow

    with tracking_uri.credentials_in_environment(_with_userinfo(server, *ADMIN)):
        assert mlflow.MlflowClient(server).search_runs(["0"]) == []


@pytest.mark.slow
def test_a_password_in_the_uri_works_and_is_never_shown(
    tmp_path: Path, auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    uri = _with_userinfo(auth_server.uri, *ADMIN)
    search = _lrdecay(
        "search", "--decay-epochs", "1", "--epochs", "2", "--batch-size", "128",
        "--kinds", "step", "--no-control", "--experiment", "secret-test",
        "--tracking-uri", uri,
        cwd=tmp_path,
    )  # fmt: skip
    assert search.returncode == 0, search.stderr[-3000:]
    report = _lrdecay(
        "report", "--experiment", "secret-test", "--tracking-uri", uri,
        "--out", "report.png", cwd=tmp_path,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    assert "Open the MLflow UI at " + auth_server.uri + "/#/experiments/" in (
        report.stdout
    )
    for output in (search.stdout, search.stderr, report.stdout, report.stderr):
        assert ADMIN[1] not in output
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == project_files.MARKER_FILE for path in written)
    for path in written:
        assert ADMIN[1].encode() not in path.read_bytes(), path
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    client = mlflow.MlflowClient(auth_server.uri)
    experiment = client.get_experiment_by_name("secret-test")
    logged = client.search_runs([experiment.experiment_id])
    assert len(logged) == 2  # the parent and the one trial
    for run in logged:
        values = [*run.data.params.values(), *run.data.tags.values()]
        assert not [value for value in values if ADMIN[1] in value], run.info.run_id


@pytest.mark.slow
def test_a_password_in_the_uri_of_a_python_search_is_never_printed(
    tmp_path: Path,
    auth_server: MlflowServer,
    digits: Any,
    make_model: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # MLflow prints "View run ... at: <the URI it was given>" when a run ends.
    import lrdecay

    x, y, x_val, y_val = digits
    variables = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    before = {name: os.environ.get(name) for name in variables}
    result = lrdecay.search(
        lambda: make_model(), x, y, validation_data=(x_val, y_val), kinds=("step",),
        decay_epochs=[1], epochs=1, control=False, batch_size=256,
        project_dir=tmp_path / "project", tracking={
            "experiment_name": "python-secret",
            "tracking_uri": _with_userinfo(auth_server.uri, *ADMIN),
        },
    )  # fmt: skip
    printed = capfd.readouterr()
    assert "View run" in printed.out  # MLflow did print its links...
    assert ADMIN[1] not in printed.out + printed.err  # ...without the password
    assert ADMIN[1] not in repr(result.tracking_uri)
    # MLflow's variables are as the search found them.
    assert {name: os.environ.get(name) for name in variables} == before
