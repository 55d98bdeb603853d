"""Drive headless Chromium over the DevTools protocol on a pipe, for UI tests.

```python
with ChromiumPage(CHROMIUM, url) as page:
    width = page.wait_for("document.images.length")  # a JS expression's value
    page.screenshot("page.png")
```

`--dump-dom` shows what the page holds, not what the browser made of it
(whether an image decoded, how wide it is). This runs the same browser with
`--remote-debugging-pipe` (messages are JSON, each ended by a NUL byte, on
file descriptors 3 (to the browser) and 4 (from it)), opens `url` in a new
tab, evaluates JavaScript in it and takes screenshots. Standard library only.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ChromiumPage"]


class ChromiumPage:
    """One headless Chromium tab on `url`, driven over a DevTools pipe.

    Args:
        chromium: Path of the `chromium` binary.
        url: The page to open.
        size: `(width, height)` of the window. Defaults to `(1400, 900)`.
    """

    def __init__(self, chromium: str, url: str, size: tuple[int, int] = (1400, 900)):
        self.chromium = chromium
        self.url = url
        self.size = size
        self._next_id = 0
        self._buffer = b""
        self._session: str | None = None

    def __enter__(self) -> ChromiumPage:
        self._profile = tempfile.TemporaryDirectory(prefix="lrdecay-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The child's fds 3 and 4: copies above them first, so that neither
        # dup2 overwrites the other end.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in
                (to_browser_read, from_browser_write)]  # fmt: skip
        os.close(to_browser_read)
        os.close(from_browser_write)

        def child_pipes() -> None:
            os.dup2(ends[0], 3)
            os.dup2(ends[1], 4)

        command = [
            self.chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={self._profile.name}",
            f"--window-size={self.size[0]},{self.size[1]}",
            "--remote-debugging-pipe", "about:blank",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_pipes,
            pass_fds=(3, 4),
        )
        for fd in ends:
            os.close(fd)
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": self.size[0],
                "height": self.size[1],
                "deviceScaleFactor": 1,
                "mobile": False,
            },
        )
        self.goto(self.url)
        return self

    def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one command (to the tab once attached); return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method}
        message["params"] = params or {}
        if self._session is not None:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def goto(self, url: str) -> None:
        """Open `url` in the tab."""
        self.url = url
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 120.0) -> Any:
        """The expression's first truthy value, polled until `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.5)

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Save the visible page as a PNG at `path`."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        target = Path(path)
        target.write_bytes(base64.b64decode(data))
        return target

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._session = None
            self.send("Browser.close")
        except (OSError, RuntimeError):
            pass
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=15)
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()
