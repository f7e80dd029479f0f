"""A real Databricks REST server for the tests of code that talks to a workspace: the `minilake`
emulator (PyPI, MIT), run in-process under uvicorn on a free loopback port.

Code under test gets a real `databricks.sdk.WorkspaceClient` pointed at it: requests, JSON,
errors and retries go over HTTP exactly as against a workspace. The emulator checks no
permissions (see ../shared/EMULATOR.md for its measured gaps); where it lacks an endpoint, a test
adds the smallest faithful handler with `Emulator.add_handler`, documented where it is written,
never a fake of the project's own code.
"""

from __future__ import annotations

import collections
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a client is made: pytest's controller never needs the SDK
    from databricks.sdk import WorkspaceClient

# minilake reads its settings when first imported, and some test modules import it at collection
# time, before any fixture runs: its data lives in a folder of the session's own from the start,
# never in the checkout (its default is "./data").
SESSION_DATA_DIR = Path(tempfile.mkdtemp(prefix="minilake-"))
os.environ["MINILAKE_DATA_DIR"] = str(SESSION_DATA_DIR)
os.environ["MINILAKE_DUCKDB_EXTENSION_DIR"] = str(SESSION_DATA_DIR / "duckdb-extensions")


class RequestCounter:
    """ASGI middleware counting the HTTP requests the emulator answers, by method and path: the
    tests assert how many requests a command makes (they are deterministic)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: collections.Counter[tuple[str, str]] = collections.Counter()

    @property
    def total(self) -> int:
        return sum(self.seen.values())

    def matching(self, method: str, prefix: str) -> int:
        return sum(
            n for (m, path), n in self.seen.items() if m == method and path.startswith(prefix)
        )

    def reset(self) -> None:
        self.seen.clear()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen[(scope["method"], scope["path"])] += 1
        await self.app(scope, receive, send)


def _fail_tasks_without_docker() -> None:
    """Without Docker, a task run fails and its run ends (EMULATOR.md), as minilake's container
    runner means it to: its `except DockerException` answers a failed task. But it asks for the
    Docker client before that `try`, so here the run's scheduler dies with the exception and the
    run stays RUNNING for ever (no task run ids, no end). This gives the answer of minilake's own
    except branch for that call too."""
    from docker.errors import DockerException
    from minilake import docker_executor

    run = docker_executor._run_container_sync
    if getattr(run, "fails_without_docker", False):
        return

    def run_or_fail(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(*args, **kwargs)
        except DockerException as exc:
            return docker_executor.ExecutionResult(exit_code=-1, logs="", error=str(exc))

    run_or_fail.fails_without_docker = True  # type: ignore[attr-defined]
    docker_executor._run_container_sync = run_or_fail


class Emulator:
    """One minilake server for the test session; `client()` is an SDK client for it."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        # Settings are read from the environment when minilake is imported. An empty extension
        # folder makes it load (never download) DuckDB's delta extension: this machine has no
        # network but the package registries, and no test here reads Delta tables.
        extensions = data_dir / "duckdb-extensions"
        extensions.mkdir(parents=True, exist_ok=True)
        os.environ["MINILAKE_DATA_DIR"] = str(data_dir.resolve())
        os.environ["MINILAKE_DUCKDB_EXTENSION_DIR"] = str(extensions.resolve())
        import uvicorn
        from minilake.app import create_app
        from minilake.config import settings

        # Also set on the settings object: if anything imported minilake before this point, its
        # settings were read then, and a relative default ("./data") would land in the checkout.
        settings.data_dir = data_dir.resolve()
        settings.duckdb_extension_dir = extensions.resolve()

        _fail_tasks_without_docker()
        self.data_dir = data_dir
        self.app = create_app()
        self.requests = RequestCounter(self.app)
        # The server listens on the very socket bound here: a port that was probed and released
        # could be taken in between by another test process (pytest-xdist workers start their
        # emulators at the same moment). `port` asks for a given one (the sandbox's), else any.
        self._socket = socket.socket()
        # As uvicorn does for the sockets it makes: a restart on the same port is not refused
        # while the previous server's connections linger in TIME_WAIT.
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port or 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        # The request counter wraps the app: every request a test makes is counted.
        self._server = uvicorn.Server(uvicorn.Config(self.requests, log_level="warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> Emulator:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"minilake did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def client(self, **config: Any) -> WorkspaceClient:
        """An SDK client with a token (the emulator accepts any)."""
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.url, token="emulator-token", **config)

    def add_handler(self, method: str, path: str, endpoint: Callable[..., Any]) -> None:
        """Serve `method path` with `endpoint` ahead of the emulator's own routes (which answer
        501 where it has no implementation). Registered once per session: keep it faithful to
        the real service, since every test that calls the path sees it."""
        self.app.add_api_route(path, endpoint, methods=[method])
        routes = self.app.router.routes
        routes.insert(0, routes.pop())
