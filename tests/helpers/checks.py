# SPDX-License-Identifier: BSD-3-Clause
"""The failure and the checks shared by the Python tests and benchmarks.

The script-style tests (test_kernel_ingest.py, test_kinesis_api.py,
test_dpdk_ingest.py) and perf/dataplane/bench_dataplane.py report a broken
expectation by raising Failure with a sentence that says what differs; their
runners print it as `FAIL NAME: sentence`. The helpers in this folder raise
the same Failure, so that a daemon that does not start or a /metrics page
that breaks its format reads like any other failed check.

The unittest-based tests of the command-line tools share ExitAssertions.
"""


class Failure(AssertionError):
    """An expectation that did not hold; str() says which and how."""


def check(cond, what):
    """Raise Failure(what) unless cond holds."""
    if not cond:
        raise Failure(what)


def eq(got, want, what):
    """Raise Failure naming what, got and want unless got == want."""
    if got != want:
        raise Failure(f"{what}: got {got!r}, want {want!r}")


class ExitAssertions:
    """A unittest.TestCase mix-in for tests that run a tool as a process."""

    def assert_exit(self, proc, code):
        """proc (a CompletedProcess) exited with code; the message shows
        both output streams when it did not."""
        self.assertEqual(proc.returncode, code,
                         f"exit {proc.returncode}, want {code}\n"
                         f"stdout: {proc.stdout!r}\nstderr: {proc.stderr!r}")
