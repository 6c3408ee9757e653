# SPDX-License-Identifier: BSD-3-Clause
"""kill -9 under load: nothing acknowledged is lost, sequence numbers never go back.

Drives the storage engine through $SL_BUILD_ROOT/tests/integration/store_load
(tests/helpers/store_load.c), which appends records with contents derived
from a unique record id from two producer threads and logs every acked
record ("<shard> <seq> <id> <len>") to an ack log. Checks, in fsync mode
(the default; SPEC §4: "nothing acked is ever lost by a process crash"):
- 20 times, `store_load run` is killed with SIGKILL at a random moment
  0.2-1.5 s after it started (seeded; the seed is printed and
  SL_CRASH_SEED replays it), or, should it not have acked anything by
  then (a slow disk), right after its first ack; every run acked records;
- after a kill, `store_load verify` opens the store (recovery runs,
  truncating a torn tail) and finds every record acked so far, by every
  run, at its shard and sequence number with its exact length and bytes;
  every stored record is intact; it exits 0. After about one kill in four
  the next run starts at once instead, so that its own recovery meets the
  torn tail and it appends after it; verify follows the kill after that
  (and always the last one);
- sequence numbers never go backwards: per shard, the records acked after a
  restart carry sequence numbers above every one acked before it; within a
  run they are consecutive, and the first one is the shard's next sequence
  number as recovery found it (a record that survived the kill unacked
  keeps its number, which is not given again); the stored end of each
  shard never moves back from one restart to the next;
- a last clean `run --seconds 1` stops by itself with exit 0, no append
  failed, and verify passes.
The same loop runs 5 times on a stream in write durability mode: there an
ack means the write(2) completed, so the bytes are in the page cache, and a
kill -9 ends the process but not the kernel, which still writes them back;
acked records must survive a process crash in that mode too (a power cut,
which this test does not simulate, may lose them).
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = os.environ.get("SL_BUILD_ROOT", "build")
LOAD = os.path.join(BUILD, "tests", "integration", "store_load")
KILLS = 20
WRITE_KILLS = 5
DELAY_S = (0.2, 1.5)
# Appends per second (1..8 records of 1..2000 bytes each, ~13 MB/s): enough
# for many commits and segment rolls per run, while the data every verify
# reads back stays small enough for the whole test to take about a minute.
RATE = 3000
RESTART_AT_ONCE = 0.25  # the share of kills not followed by a verify
FIRST_ACK_WAIT_S = 10
VERIFY_TIMEOUT_S = 60
CLEAN_TIMEOUT_S = 30
LINE = re.compile(r"^(\d+) (\d+) ([0-9a-f]{16}) (\d+)$")

SEED = int(os.environ.get("SL_CRASH_SEED", "0")) or random.SystemRandom().randrange(1, 2**32)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ack_lines(path):
    """The complete lines of an ack log, and whether a partial last one was dropped."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return [], False
    text = data.decode("ascii")
    lines = text.split("\n")
    partial = lines[-1] != ""
    return lines[:-1], partial


class Crash(unittest.TestCase):

    def setUp(self):
        self.assertTrue(os.access(LOAD, os.X_OK), f"{LOAD} not built")
        self.tmp = tempfile.mkdtemp(prefix="sluice-crash-")
        self.data = os.path.join(self.tmp, "data")
        self.all_acks = os.path.join(self.tmp, "acks.log")  # every complete line so far
        self.acked = 0
        self.last_acked = {}   # shard -> the highest seq acked so far
        self.next_seq = {}     # shard -> next_seq from the last verify
        self.fresh = False     # whether no run went since that verify
        self.stored = 0
        self.torn = 0

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def output(self, path):
        with open(path, errors="replace") as f:
            return f.read()

    def verify(self, what):
        out = os.path.join(self.tmp, "verify.out")
        with open(out, "w") as f:
            p = subprocess.run([LOAD, "verify", self.data, self.all_acks], stdout=f,
                               stderr=subprocess.STDOUT, timeout=VERIFY_TIMEOUT_S)
        text = self.output(out)
        self.assertEqual(p.returncode, 0, f"verify after {what} (seed {SEED}):\n{text}")
        m = re.search(r"^verified (\d+) acked records, (\d+) stored, (\d+) shards$", text, re.M)
        self.assertIsNotNone(m, text)
        acked, stored = int(m.group(1)), int(m.group(2))
        self.assertEqual(acked, self.acked, text)
        self.assertGreaterEqual(stored, acked, text)
        self.assertGreaterEqual(stored, self.stored, f"stored records went down:\n{text}")
        self.stored = stored
        self.torn += text.count("torn tail")
        for s, n in re.findall(r"^shard (\d+) next_seq (\d+)$", text, re.M):
            s, n = int(s), int(n)
            self.assertGreaterEqual(n, self.next_seq.get(s, 0),
                                    f"shard {s}: next_seq went back after {what}:\n{text}")
            if s in self.last_acked:
                self.assertGreater(n, self.last_acked[s], text)
            self.next_seq[s] = n
        self.fresh = True
        return text

    def take_acks(self, path, what):
        """Check a run's ack log against what came before; add it to the total."""
        lines, partial = ack_lines(path)
        self.assertGreater(len(lines), 0, f"{what} acked nothing (seed {SEED})")
        expect = {}
        for i, line in enumerate(lines):
            m = LINE.match(line)
            self.assertIsNotNone(m, f"{path}:{i + 1}: malformed: {line!r}")
            shard, seq = int(m.group(1)), int(m.group(2))
            if shard in expect:
                self.assertEqual(seq, expect[shard],
                                 f"{what}: shard {shard}: seq {seq} after {expect[shard] - 1}")
            else:
                self.assertGreater(seq, self.last_acked.get(shard, -1),
                                   f"{what}: shard {shard}: seq {seq} went back (acked up to "
                                   f"{self.last_acked.get(shard)} before the restart)")
                if self.fresh and shard in self.next_seq:
                    self.assertEqual(seq, self.next_seq[shard],
                                     f"{what}: shard {shard}: first seq {seq}, recovery "
                                     f"ended at {self.next_seq[shard]}")
            expect[shard] = seq + 1
        for shard, n in expect.items():
            self.last_acked[shard] = n - 1
        self.fresh = False
        with open(self.all_acks, "a") as f:
            f.write("".join(line + "\n" for line in lines))
        self.acked += len(lines)
        return len(lines), partial

    def start(self, i, durability, *extra):
        ack = os.path.join(self.tmp, f"ack-{i}.log")
        out = os.path.join(self.tmp, f"run-{i}.out")
        cmd = [LOAD, "run", self.data, ack, "--durability", durability, "--rate", str(RATE)]
        with open(out, "w") as f:
            p = subprocess.Popen(cmd + list(extra), stdout=f, stderr=subprocess.STDOUT)
        return p, ack, out

    def kill_loop(self, durability, kills):
        rng = random.Random(f"{SEED}-{durability}")
        log(f"crash: seed {SEED} (SL_CRASH_SEED={SEED} replays it), {durability} mode, "
            f"{kills} kills")
        t0 = time.monotonic()
        self.verify("nothing")
        for i in range(kills):
            p, ack, out = self.start(i, durability)
            delay = rng.uniform(*DELAY_S)
            verify = i == kills - 1 or rng.random() >= RESTART_AT_ONCE
            time.sleep(delay)
            waited = self.wait_first_ack(ack, p, out)
            self.assertIsNone(p.poll(), f"run {i} ended by itself:\n{self.output(out)}")
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.assertEqual(p.returncode, -signal.SIGKILL, self.output(out))
            what = f"kill {i + 1} at {delay + waited:.3f} s"
            n, partial = self.take_acks(ack, what)
            if verify:
                self.verify(what)
            log(f"crash: {what}{f' (waited {waited:.3f} s for a first ack)' if waited else ''}"
                f": {n} acked{' (+ a partial line)' if partial else ''}, {self.acked} acked "
                f"in all, " + (f"{self.stored} stored" if verify else "restart at once"))
        log(f"crash: {kills} kills in {time.monotonic() - t0:.1f} s; verify truncated a "
            f"torn tail {self.torn} time(s)")

    def wait_first_ack(self, ack, p, out):
        """Wait (seconds returned) until the ack log holds a complete line."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < FIRST_ACK_WAIT_S and p.poll() is None:
            try:
                with open(ack, "rb") as f:
                    if b"\n" in f.read(128):
                        break
            except FileNotFoundError:
                pass
            time.sleep(0.005)
        waited = time.monotonic() - t0
        return waited if waited > 0.01 else 0

    def clean_run(self, durability):
        p, ack, out = self.start("clean", durability, "--seconds", "1")
        rc = p.wait(timeout=CLEAN_TIMEOUT_S)
        text = self.output(out)
        self.assertEqual(rc, 0, text)
        self.assertIn(" 0 not OK; 0 ack log write errors", text)
        n, partial = self.take_acks(ack, "the clean run")
        self.assertFalse(partial, "a clean run left a partial ack log line")
        self.verify("the clean run")
        log(f"crash: clean run: {n} acked, {self.acked} acked in all, {self.stored} stored")

    def test_fsync_kills(self):
        self.kill_loop("fsync", KILLS)
        self.clean_run("fsync")

    def test_write_kills(self):
        self.kill_loop("write", WRITE_KILLS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
