"""``incident-commander up`` as a background process for the tests: started, read until ready, stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This test's variables only: nothing the shell running pytest set for the project counts."""
    from shared.settings import Settings

    ours = {field.alias for field in Settings.model_fields.values() if field.alias}
    base = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith(("CELERY_", "FLOWER_"))}
    return {**base, **extra, "COLUMNS": "250"}


class UpProcess:
    """``incident-commander up <args>`` in the background, its stdout read line by line until a line
    holds ``ready``; ``stop`` sends SIGTERM (up stops its workers, Flower and Redis as on Ctrl-C)."""

    def __init__(self, *args: str, env: dict[str, str], ready: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "incident_cli", "up", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(env),
        )
        self.lines: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        try:
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if ready in line:
                    return
        except BaseException:  # a test time-out included: no stack left running
            self.stop()
            raise
        self.proc.wait(30)
        raise AssertionError(f"up did not get ready: {self.lines}\n{self.proc.stderr.read()}")

    @property
    def stdout(self) -> str:
        return "\n".join(self.lines)

    def exported(self, name: str) -> str:
        found = re.search(rf"export {name}='([^']+)'", self.stdout)
        assert found, f"up did not print {name}: {self.stdout}"
        return found[1]

    def line(self, service: str) -> str:
        """What ``up`` printed for ``service`` (``shared.reads``' line)."""
        return next(line.strip() for line in self.lines if line.strip().startswith(f"{service} "))

    def worker_log(self, service: str) -> str:
        found = re.search(r"Worker logs: (\S+)", self.stdout)
        assert found, self.stdout
        return (Path(found[1]) / f"{service}.log").read_text(errors="replace")

    def child_cmdline(self, needle: str) -> tuple[int, str]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        for pid in children:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if needle in cmdline:
                return int(pid), cmdline
        raise AssertionError(f"no child process of up runs {needle!r}")

    def stop(self) -> str:
        """SIGTERM; everything else it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        return out + err
