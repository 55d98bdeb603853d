"""Which part of a distributed search this process plays: chief, worker or single.

The role comes from KerasTuner's variables (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`) or the options of the same
meaning, checked here once so the chief and its workers agree on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

TUNER_ID_ENV = "KERASTUNER_TUNER_ID"
ORACLE_IP_ENV = "KERASTUNER_ORACLE_IP"
ORACLE_PORT_ENV = "KERASTUNER_ORACLE_PORT"


@dataclasses.dataclass(frozen=True)
class Role:
    """Which part of a search this process plays.

    Attributes:
        tuner_id: String or `None`. KerasTuner's tuner id; a chief's contains
            `"chief"` (KerasTuner's own rule).
        oracle_ip: String or `None`. Where the chief serves its oracle; `None`
            for a search in one process.
        oracle_port: Int or `None`.
    """

    tuner_id: str | None = None
    oracle_ip: str | None = None
    oracle_port: int | None = None

    @property
    def is_distributed(self) -> bool:
        return self.oracle_ip is not None

    @property
    def is_chief(self) -> bool:
        return self.is_distributed and "chief" in (self.tuner_id or "")

    @property
    def is_worker(self) -> bool:
        return self.is_distributed and not self.is_chief

    @property
    def name(self) -> str:
        """`"chief"`, `"worker"` or `"single"`."""
        if self.is_chief:
            return "chief"
        return "worker" if self.is_worker else "single"

    @property
    def address(self) -> str:
        return f"{self.oracle_ip}:{self.oracle_port}"

    def _values(self) -> tuple[tuple[str, Any], ...]:
        return (
            (TUNER_ID_ENV, self.tuner_id),
            (ORACLE_IP_ENV, self.oracle_ip),
            (ORACLE_PORT_ENV, self.oracle_port),
        )

    def export(self, environ: MutableMapping[str, str] | None = None) -> None:
        """Write the role to the KerasTuner environment variables.

        KerasTuner reads them when a tuner is built and when it searches. The
        variables stay set after the call: prefer `exported()`, which
        restores them (as the `lrdecay search` command does).
        """
        environ = os.environ if environ is None else environ
        for key, value in self._values():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = str(value)

    @contextlib.contextmanager
    def exported(
        self, environ: MutableMapping[str, str] | None = None
    ) -> Iterator[Role]:
        """Export the role for the duration of a `with` block, then restore.

        The three variables get back the values (or absence) they had before,
        also when the block raises.

        Example:

        ```python
        with resolve_role("worker-1", "10.0.0.5", 8000).exported():
            lrdecay.search(build_model, x, y)   # KerasTuner reads the role
        ```
        """
        environ = os.environ if environ is None else environ
        before = {key: environ.get(key) for key, _ in self._values()}
        self.export(environ)
        try:
            yield self
        finally:
            for key, value in before.items():
                if value is None:
                    environ.pop(key, None)
                else:
                    environ[key] = value


def resolve_role(
    tuner_id: str | None = None,
    oracle_ip: str | None = None,
    oracle_port: int | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Role:
    """The role of this process: options first, then KerasTuner's variables.

    Example:

    ```python
    role = resolve_role()          # from KERASTUNER_* in the environment
    role = resolve_role("worker-1", "10.0.0.5", 8000)
    role.is_chief, role.is_worker, role.address
    ```

    Args:
        tuner_id: String or `None`. Else `KERASTUNER_TUNER_ID`.
        oracle_ip: String or `None`. Else `KERASTUNER_ORACLE_IP`.
        oracle_port: Int, string or `None`. Else `KERASTUNER_ORACLE_PORT`.
        environ: Mapping. Defaults to `os.environ`.

    Returns:
        A `Role`; not distributed when neither an IP nor a port is set.

    Raises:
        ValueError: An IP without a port (or the reverse), a distributed role
            without a tuner id, a blank id or IP, or a port outside 1-65535;
            the message names the option or variable and its value.
    """
    environ = os.environ if environ is None else environ

    def pick(value: Any, option: str, variable: str) -> tuple[str | None, str]:
        """The value and the name it came by (the option's when unset)."""
        if value is not None:
            return str(value), option
        from_env = environ.get(variable)
        return (from_env, variable) if from_env is not None else (None, option)

    tid, tid_name = pick(tuner_id, "tuner_id", TUNER_ID_ENV)
    ip, ip_name = pick(oracle_ip, "oracle_ip", ORACLE_IP_ENV)
    port_text, port_name = pick(oracle_port, "oracle_port", ORACLE_PORT_ENV)

    if tid is not None and not tid.strip():
        raise ValueError(
            f"`{tid_name}` must name this tuner (e.g. 'chief', 'worker-1'). "
            f"Received: {tid_name}={tid!r}"
        )
    if ip is None and port_text is None:
        return Role(tuner_id=tid)
    if ip is None or port_text is None:
        raise ValueError(
            f"`{ORACLE_IP_ENV}` (`oracle_ip`) and `{ORACLE_PORT_ENV}` "
            "(`oracle_port`) go together: the chief serves its oracle at that "
            f"address and workers connect to it. Received: {ip_name}={ip!r}, "
            f"{port_name}={port_text!r}"
        )
    if not ip.strip():
        raise ValueError(
            f"`{ip_name}` must be the chief's address. Received: {ip_name}={ip!r}"
        )
    port = _port(port_text, port_name)
    if tid is None:
        raise ValueError(
            f"A distributed search needs `{TUNER_ID_ENV}` (`tuner_id`): 'chief' "
            "for the process "
            "serving the oracle, a unique name (e.g. 'worker-1') for each "
            f"worker. Received: {tid_name}=None with {ip_name}={ip!r}"
        )
    return Role(tuner_id=tid.strip(), oracle_ip=ip.strip(), oracle_port=port)


def _port(text: str, name: str) -> int:
    """`text` as a TCP port; a ValueError naming `name` and `text` otherwise."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ValueError(
            f"`{name}` must be a TCP port (1-65535). Received: {name}={text!r}"
        )
    return port
