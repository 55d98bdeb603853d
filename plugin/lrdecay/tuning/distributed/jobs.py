"""How many trials run at a time on this machine (`jobs=`), and with how many threads.

`resolve_jobs(jobs)` checks `jobs=` (`search(jobs=N)`, `lrdecay search
--jobs N`) and says how many worker processes a search starts and how many
threads each gets, so that N processes do not fight over the cores: each gets
`cores // N` threads for TensorFlow's intra- and inter-op pools (and OpenMP),
set in its environment before TensorFlow loads (`Jobs.environment`).

`jobs="auto"` is what the machine allows: `min(cores, available memory /
PROCESS_MEMORY)`, at least 1, where the cores are those this process may run
on (`os.sched_getaffinity`) and the memory is the kernel's `MemAvailable`.
`Jobs.reason` says what it chose and why.
"""

from __future__ import annotations

import dataclasses
import os

JOBS_AUTO = "auto"

# What one worker process of a small Keras model holds: TensorFlow, Keras,
# KerasTuner and MLflow loaded, the default digits search peaked at 1.0 GB
# resident (TensorFlow 2.x, measured with /usr/bin/time -v).
PROCESS_MEMORY = 1 << 30

# The variables TensorFlow (and OpenMP) read for their thread pools when they load.
THREAD_VARIABLES = (
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "OMP_NUM_THREADS",
)


@dataclasses.dataclass(frozen=True)
class Jobs:
    """How a search runs its trials on this machine.

    Attributes:
        count: Int. Trials at a time (worker processes; 1: this process alone).
        threads: Int. Threads for each worker's thread pools.
        reason: String. What was asked and what was chosen, for the user.
    """

    count: int
    threads: int
    reason: str

    def environment(self) -> dict[str, str]:
        """A worker's thread settings, as variables read when TensorFlow loads."""
        return {name: str(self.threads) for name in THREAD_VARIABLES}


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping, if it says."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def resolve_jobs(
    jobs: int | str,
    *,
    cores: int | None = None,
    memory: int | None = None,
) -> Jobs:
    """How many trials run at a time for `jobs=`, and their threads.

    Example:

    ```python
    resolve_jobs(2).count             # 2
    resolve_jobs("auto").reason       # 'jobs=auto: 2 (2 cores, 21.9 GiB ...)'
    ```

    Args:
        jobs: Int >= 1, or `"auto"` (`min(cores, memory / PROCESS_MEMORY)`).
        cores: Int or `None`. Defaults to `usable_cores()`.
        memory: Int or `None`. Bytes available; defaults to
            `available_memory()` (unknown: cores alone decide).

    Returns:
        A `Jobs`.

    Raises:
        TypeError: `jobs` is neither an int nor a string.
        ValueError: `jobs` is below 1, or a string other than `"auto"`.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, (int, str)):
        raise TypeError(
            "Argument `jobs` must be a whole number of trials at a time, or "
            f"'auto'. Received: jobs={jobs!r} of type {type(jobs).__name__}"
        )
    cores = usable_cores() if cores is None else cores
    if isinstance(jobs, str):
        if jobs.strip().lower() != JOBS_AUTO:
            raise ValueError(
                "Argument `jobs` must be a whole number >= 1 or 'auto'. "
                f"Received: jobs={jobs!r}"
            )
        memory = available_memory() if memory is None else memory
        by_memory = cores if memory is None else memory // PROCESS_MEMORY
        count = max(1, min(cores, by_memory))
        memory_text = (
            "memory unknown"
            if memory is None
            else f"{memory / (1 << 30):.1f} GiB available at "
            f"~{PROCESS_MEMORY / (1 << 30):.1f} GiB a process"
        )
        reason = f"jobs=auto: {count} ({cores} cores, {memory_text})"
    else:
        if jobs < 1:
            raise ValueError(
                "Argument `jobs` must be a whole number >= 1 (trials at a "
                f"time) or 'auto'. Received: jobs={jobs!r}"
            )
        count = jobs
        reason = f"jobs={jobs}"
    threads = max(1, cores // count)
    reason = f"{reason}, {threads} thread(s) each"
    return Jobs(count=count, threads=threads, reason=reason)
