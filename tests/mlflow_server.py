"""Start a real `mlflow server` on 127.0.0.1 for tests and benchmarks.

```python
with MlflowServer(tmp_path) as server:
    client = mlflow.MlflowClient(server.uri)
    ...
    server.stop()    # simulate an outage; the SQLite store stays on disk
    server.start()   # same port, same store: a restart
```

With `admin=("admin", PASSWORD)` the server runs MLflow's basic-auth app
(`--app-name basic-auth`, users in `root/basic_auth.db`, that admin created at
the first start).

The server gets a free port, a SQLite backend and an artifact directory in
`root`, and one worker (a restart is then one process group to stop). `start`
waits on `/health`, never a blind sleep; `stop` ends the server's process group
by its pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["MlflowServer", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServer:
    """A `mlflow server` subprocess with its own store under `root`.

    Args:
        root: Directory for the SQLite store, artifacts and the server log.
        port: Port to listen on. Defaults to a free port.
        start_timeout: Seconds to wait for `/health`. Defaults to `90`.
        admin: `(user, password)` or `None`. Run MLflow's basic-auth app with
            this admin. Defaults to `None` (no authentication).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        port: int | None = None,
        start_timeout: float = 90.0,
        admin: tuple[str, str] | None = None,
    ) -> None:
        self.admin = admin
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log_path = self.root / "mlflow-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> MlflowServer:
        """Start the server and wait until `/health` answers."""
        if self.running:
            return self
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        command = [
            str(mlflow_bin) if mlflow_bin.exists() else "mlflow",
            "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.root / 'server.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        if self.admin is not None:
            command += ["--app-name", "basic-auth"]
            env.update(self._auth_environment())
        with open(self.log_path, "ab") as log:
            # A new session makes the server (and its uvicorn/gunicorn
            # children) one process group, which `stop` ends as a whole.
            self._process = subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy()
        return self

    def _auth_environment(self) -> dict[str, str]:
        """The basic-auth app's config (mlflow/server/auth/basic_auth.ini)."""
        assert self.admin is not None
        config = self.root / "basic_auth.ini"
        config.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{self.root / 'basic_auth.db'}\n"
            f"admin_username = {self.admin[0]}\n"
            f"admin_password = {self.admin[1]}\n"
            "authorization_function = "
            "mlflow.server.auth:authenticate_request_basic_auth\n"
            # A password hash per request is seconds on a busy test machine.
            "auth_cache_ttl_seconds = 600\n"
        )
        return {
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            # The auth app's CSRF protection needs a fixed key.
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "lrdecay-tests",
        }

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with code {self._process.returncode}; "
                    f"log: {self.log_path}\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(
            f"mlflow server did not answer {self.uri}/health within "
            f"{self.start_timeout} s; log: {self.log_path}\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server (its whole process group) and wait for it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        # The port must be free before a restart binds it again.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _listening(self.port):
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self, _getattr: Any = getattr) -> None:
        process = _getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
