# SPDX-License-Identifier: BSD-3-Clause
"""The runner of the script-style integration tests: named cases, one daemon.

A test file collects its cases with a Cases instance used as a decorator,
and hands them to run() with the daemon (a sluiced.Sluiced whose start()
waits until it is ready) and a function that makes the context every case
receives. Each case passes, fails or skips; run() prints one line per case:
`ok NAME (T s)`, `FAIL NAME: why` (the message of a checks.Failure or an
slw1.WireError, else the traceback) or `skip NAME: why` (Skip), then checks
that the daemon stops cleanly on SIGTERM (`ok clean_stop`), and ends with
`N passed, M failed[, K skipped]`. Should the daemon die, the remaining
cases are not run.
"""
import os
import sys
import time
import traceback

from checks import Failure
from slw1 import WireError


class Skip(Exception):
    """A case that cannot run on this build; says why."""


class Cases(list):
    """The cases of a test file in order; the instance is the decorator."""

    def __call__(self, fn):
        self.append(fn)
        return fn


def run(daemon, cases, make_ctx, needs=()):
    """Run the cases named on the command line (all when none is) against
    daemon; needs: the binaries that must be built. The exit status."""
    for path in needs:
        if not os.access(path, os.X_OK):
            print(f"FAIL setup: {path} is not built")
            print("0 passed, 1 failed")
            return 1
    only = set(sys.argv[1:])
    passed = failed = skipped = 0
    try:
        try:
            daemon.start()
        except Failure as e:
            print(f"FAIL start: {e}")
            print("0 passed, 1 failed")
            return 1
        ctx = make_ctx(daemon)
        for fn in cases:
            if only and fn.__name__ not in only:
                continue
            t0 = time.monotonic()
            try:
                fn(ctx)
            except Skip as e:
                skipped += 1
                print(f"skip {fn.__name__}: {e}", flush=True)
                continue
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failed += 1
                detail = (str(e) if isinstance(e, (Failure, WireError))
                          else "".join(traceback.format_exception(e)).rstrip())
                print(f"FAIL {fn.__name__}: {detail}", flush=True)
                if daemon.proc.poll() is not None:
                    print(f"sluiced exited with {daemon.proc.returncode}:\n"
                          f"{daemon.text()[-4000:]}")
                    break
                continue
            passed += 1
            print(f"ok {fn.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
        if daemon.proc.poll() is None:
            code = daemon.stop()
            if code != 0:
                failed += 1
                print(f"FAIL clean_stop: exit {code}:\n{daemon.text()[-4000:]}")
            else:
                passed += 1
                print("ok clean_stop")
        else:
            failed += 1
            print(f"FAIL daemon_alive: sluiced exited with {daemon.proc.returncode}")
    finally:
        daemon.close()
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0
