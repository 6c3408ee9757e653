# SPDX-License-Identifier: BSD-3-Clause
"""sluiced as a process, for the integration tests and the benchmarks.

Sluiced runs the built daemon ($SL_BUILD_ROOT/control/sluiced unless told
otherwise) on a data directory of its own (in a temporary directory, or the
one given), with api.listen and ingest.listen on free ports of 127.0.0.1
(ingest.listen free for both UDP and TCP). start() may be called again after
stop(): the same data directory, new ports, a new log file (NAME.N.log for
run N), so that each run's log can be read on its own. close() kills what
still runs and removes what it made: the temporary directory, and EAL's
runtime directory of a DPDK file prefix it was given.

Failures (the daemon exits, is not ready in time, stops with errors) raise
checks.Failure with the log.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import kinesis
from checks import Failure, check

BUILD_ROOT = os.environ.get("SL_BUILD_ROOT", "build")
SLUICED = os.path.join(BUILD_ROOT, "control", "sluiced")
READY_LINE = "daemon: ready"


def free_port():
    """A port of 127.0.0.1 free for both TCP and UDP (at the time asked)."""
    for _ in range(100):
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise Failure("no free port")


class Sluiced:
    """One sluiced, run by start() and stop(), any number of times.

    data_dir: the data directory (default: var/ in a temporary directory);
    log_dir: where the logs go (default: that temporary directory);
    name: the logs' name, NAME.N.log; tmp_prefix: the temporary directory's;
    dpdk_prefix: EAL's file prefix, passed as --dpdk.file_prefix; its
    runtime directory must be gone after a clean stop and is removed by
    close(); spawn: what starts the process (subprocess.Popen's arguments).
    """

    def __init__(self, binary=SLUICED, data_dir=None, log_dir=None, name="sluiced",
                 tmp_prefix="sluice-it-", dpdk_prefix=None, spawn=subprocess.Popen,
                 ready_timeout_s=30, stop_timeout_s=30):
        self.binary = binary
        self.tmp = None
        if data_dir is None or log_dir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix=tmp_prefix)
        self.data_dir = data_dir or os.path.join(self.tmp.name, "var")
        self.log_dir = log_dir or self.tmp.name
        self.name = name
        self.dpdk_prefix = dpdk_prefix
        self.spawn = spawn
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.proc = None
        self.log = None
        self.runs = 0
        self.api_port = self.ingest_port = None

    @property
    def log_path(self):
        return os.path.join(self.log_dir, f"{self.name}.{self.runs}.log")

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ingest_addr(self):
        return ("127.0.0.1", self.ingest_port)

    def start(self, *args, ports=True):
        """Run sluiced --data-dir DIR [--api-listen, --ingest-listen on free
        ports] [--dpdk.file_prefix] ARGS; does not wait for it."""
        self.runs += 1
        cmd = [self.binary, "--data-dir", self.data_dir]
        if ports:
            self.api_port, self.ingest_port = free_port(), free_port()
            cmd += ["--api-listen", f"127.0.0.1:{self.api_port}",
                    "--ingest-listen", f"127.0.0.1:{self.ingest_port}"]
        if self.dpdk_prefix:
            cmd.append(f"--dpdk.file_prefix={self.dpdk_prefix}")
        self.cmd = cmd + list(args)
        self.log = open(self.log_path, "w+")
        self.proc = self.spawn(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def text(self):
        """The log of the current (or last) run."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, timeout=None):
        """Whether the log matches the regular expression within timeout
        (default: the ready timeout), or by the time the process exited."""
        deadline = time.monotonic() + (timeout or self.ready_timeout_s)
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return bool(re.search(pattern, self.text()))

    def api_answers(self):
        """Whether the Kinesis API answers ListStreams with 200."""
        try:
            return kinesis.call(self.api_port, "ListStreams", {}, timeout=2)[0] == 200
        except (OSError, ValueError):
            return False

    def wait_ready(self, require=None, probe=None):
        """Until the log says ready and probe() (default: api_answers) is
        true. require: a line the log must hold by then. Failure when the
        daemon exits or is not ready within the ready timeout."""
        probe = probe or self.api_answers
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"sluiced exited with {self.proc.returncode}:\n{self.text()}")
            text = self.text()
            if READY_LINE in text:
                check(require is None or require in text,
                      f"ready without '{require}':\n{text}")
                if probe():
                    return
            time.sleep(0.05)
        raise Failure(f"sluiced not ready within {self.ready_timeout_s} s:\n{self.text()}")

    def thread_names(self):
        """The sorted names (comm) of the process's threads."""
        names = []
        task = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(task):
            try:
                with open(f"{task}/{tid}/comm") as f:
                    names.append(f.read().strip())
            except FileNotFoundError:
                pass
        return sorted(names)

    def eal_runtime_dir(self):
        return f"/var/run/dpdk/{self.dpdk_prefix}" if self.dpdk_prefix else None

    def stop(self, sig=signal.SIGTERM):
        """Send sig and wait: the exit code, or None when it had to be
        killed after the stop timeout."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.log.close()

    def stop_clean(self):
        """SIGTERM; Failure unless it exits 0, without errors, leaving no EAL
        runtime directory behind. Returns the log."""
        code = self.stop()
        text = self.text()
        check(code == 0, f"sluiced exit {code} after SIGTERM:\n{text}")
        check("with errors" not in text, f"sluiced stopped with errors:\n{text}")
        runtime = self.eal_runtime_dir()
        check(runtime is None or not os.path.exists(runtime),
              "sluiced left EAL's runtime directory behind")
        return text

    def close(self):
        """Kill what still runs; remove what was made here."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log is not None:
            self.log.close()
        # A killed daemon leaves EAL's runtime directory behind; it is ours.
        if self.eal_runtime_dir():
            shutil.rmtree(self.eal_runtime_dir(), ignore_errors=True)
        if self.tmp is not None:
            self.tmp.cleanup()
