# SPDX-License-Identifier: BSD-3-Clause
"""The daemon as a real process: sluiced started, signalled and stopped.

Checks, against the built binary ($SL_BUILD_ROOT/control/sluiced):
- start on the kernel backend: the "ready" line, the named threads
  (sl-writer-N, sl-control-0), the pid file holding the pid; SIGTERM and
  SIGINT each give exit 0 within the timeout and leave nothing behind: no
  pid file, no process, only the data directory;
- SIGHUP is logged and ignored;
- configuration from file, shortcuts and --section.key=value overrides, as
  --print-config shows them; etc/sluice.conf equals the embedded defaults;
- every kind of bad configuration is refused with exit 2, naming the key,
  the value and the reason, before anything is created on disk;
- a second daemon on a locked data directory is refused (exit 1);
- DPDK (as root): EAL up on net_null and on net_af_packet over a veth pair
  whose far end sits in a network namespace this test creates, the ports
  logged, EAL's runtime directory removed at stop; EAL refusing (bad
  lcores, bad EAL arguments) is reported in one line and the daemon carries
  on with the kernel backend.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
from sluiced import SLUICED, Sluiced, free_port  # noqa: E402
from veth import Veth  # noqa: E402

SOURCE = os.environ.get("SL_SOURCE_ROOT", ".")
IS_ROOT = os.geteuid() == 0
READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 15
DATA_FILES = ["api.key", "meta.db", "shards"]  # api.key: the Kinesis API signs iterators with it


def start_daemon(test, *args, data_dir=None):
    """One sluiced process with its own data dir and ports, ready, closed
    when the test case ends."""
    d = Sluiced(data_dir=data_dir, ready_timeout_s=READY_TIMEOUT_S,
                stop_timeout_s=STOP_TIMEOUT_S).start(*args)
    test.addCleanup(d.close)
    test.assertTrue(d.wait_for(r"daemon: ready"), d.text())
    return d


def run(*args, timeout=30):
    return subprocess.run([SLUICED] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def processes_mentioning(text):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return found


class Lifecycle(unittest.TestCase):
    def start(self, *args, **kw):
        return start_daemon(self, *args, **kw)

    def check_clean_stop(self, d, sig):
        code = d.stop(sig)
        self.assertEqual(code, 0, d.text())
        self.assertFalse(os.path.exists(os.path.join(d.data_dir, "sluiced.pid")))
        # Only the data stays: the metadata database (its WAL checkpointed
        # and removed by the clean close) and the shard tree.
        self.assertEqual(sorted(os.listdir(d.data_dir)), DATA_FILES)
        self.assertEqual(processes_mentioning(d.data_dir), [])
        self.assertIn("stopped", d.text())
        self.assertNotIn("with errors", d.text())

    def test_sigterm(self):
        d = self.start("--no-dpdk")
        names = d.thread_names()
        self.assertIn("sl-writer-0", names)
        self.assertIn("sl-control-0", names)
        with open(os.path.join(d.data_dir, "sluiced.pid")) as f:
            self.assertEqual(int(f.read()), d.proc.pid)
        self.assertIn("kernel backend", d.text())
        self.check_clean_stop(d, signal.SIGTERM)
        self.assertIn("SIGTERM: stopping", d.text())

    def test_sigint(self):
        d = self.start("--no-dpdk")
        self.check_clean_stop(d, signal.SIGINT)
        self.assertIn("SIGINT: stopping", d.text())

    def test_sighup_ignored(self):
        d = self.start("--no-dpdk")
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(d.wait_for("SIGHUP"), d.text())
        time.sleep(0.2)
        self.assertIsNone(d.proc.poll())
        self.check_clean_stop(d, signal.SIGTERM)

    def test_writers_from_override(self):
        d = self.start("--no-dpdk", "--storage.writers=3")
        names = d.thread_names()
        self.assertEqual([n for n in names if n.startswith("sl-writer-")],
                         ["sl-writer-0", "sl-writer-1", "sl-writer-2"])
        self.check_clean_stop(d, signal.SIGTERM)

    def test_data_dir_locked(self):
        d = self.start("--no-dpdk")
        other = run("--no-dpdk", "--data-dir", d.data_dir,
                    "--api-listen", f"127.0.0.1:{free_port()}",
                    "--ingest-listen", f"127.0.0.1:{free_port()}")
        self.assertEqual(other.returncode, 1, other.stderr)
        self.assertIn(f"in use by another sluiced (pid {d.proc.pid})", other.stderr)
        self.assertIsNone(d.proc.poll())
        self.check_clean_stop(d, signal.SIGTERM)

    def test_nested_data_dir_created(self):
        tmp = tempfile.mkdtemp(prefix="sluice-it-")
        nested = os.path.join(tmp, "a", "b", "c")
        d = self.start("--no-dpdk", data_dir=nested)
        self.assertTrue(os.path.isdir(nested))
        self.check_clean_stop(d, signal.SIGTERM)
        shutil.rmtree(tmp)


class Configuration(unittest.TestCase):
    def print_config(self, *args):
        r = run(*args, "--print-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def value(self, text, section, key):
        sec = None
        values = []
        for line in text.splitlines():
            m = re.match(r"^\[(\w+)\]$", line)
            if m:
                sec = m.group(1)
            m = re.match(r"^(\w+) = ?(.*)$", line)
            if m and sec == section and m.group(1) == key:
                values.append(m.group(2))
        return values

    def test_help_and_version(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--config", "--data-dir", "--api-listen", "--ingest-listen",
                     "--no-dpdk", "--dpdk-vdev", "--dpdk-ip", "--lcores"):
            self.assertIn(flag, r.stdout)
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        with open(os.path.join(SOURCE, "meson.build")) as f:
            version = re.search(r"version: '([^']+)'", f.read()).group(1)
        alloc = os.environ.get("SL_EXPECT_ALLOCATOR", "jemalloc")
        self.assertRegex(r.stdout.strip(),
                         rf"^sluiced {re.escape(version)} \(allocator {alloc}\b.*\)$")

    def test_shortcuts_and_overrides(self):
        text = self.print_config(
            "--data-dir", "/srv/sluice", "--api-listen=0.0.0.0:8080",
            "--ingest-listen", "[::1]:9400", "--no-dpdk",
            "--dpdk-vdev", "net_null0", "--dpdk-vdev=net_null1",
            "--dpdk-ip", "10.1.2.3", "--lcores", "0-1",
            "--storage.writers=4", "--daemon.log_level", "debug")
        self.assertEqual(self.value(text, "daemon", "data_dir"), ["/srv/sluice"])
        self.assertEqual(self.value(text, "api", "listen"), ["0.0.0.0:8080"])
        self.assertEqual(self.value(text, "ingest", "listen"), ["[::1]:9400"])
        self.assertEqual(self.value(text, "dpdk", "enabled"), ["false"])
        self.assertEqual(self.value(text, "dpdk", "vdev"), ["net_null0", "net_null1"])
        self.assertEqual(self.value(text, "dpdk", "ip"), ["10.1.2.3"])
        self.assertEqual(self.value(text, "dpdk", "lcores"), ["0-1"])
        self.assertEqual(self.value(text, "storage", "writers"), ["4"])
        self.assertEqual(self.value(text, "daemon", "log_level"), ["debug"])

    def test_file_then_command_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("[storage]\nwriters = 2\n[dpdk]\nvdev = net_null5\nip = 10.0.0.1\n")
            path = f.name
        self.addCleanup(os.unlink, path)
        text = self.print_config("--config", path)
        self.assertEqual(self.value(text, "storage", "writers"), ["2"])
        self.assertEqual(self.value(text, "dpdk", "vdev"), ["net_null5"])
        # The command line wins, wherever --config stands among the options.
        text = self.print_config("--storage.writers=7", "--config", path,
                                 "--dpdk-vdev", "net_null9")
        self.assertEqual(self.value(text, "storage", "writers"), ["7"])
        self.assertEqual(self.value(text, "dpdk", "vdev"), ["net_null9"])

    def test_shipped_config_is_the_default(self):
        conf = os.path.join(SOURCE, "etc", "sluice.conf")
        self.assertTrue(os.path.exists(conf))
        self.assertEqual(self.print_config("--config", conf), self.print_config())

    def refused(self, *args, mentions=()):
        tmp = tempfile.mkdtemp(prefix="sluice-it-")
        data = os.path.join(tmp, "var")
        r = run("--data-dir", data, *args)
        self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
        self.assertTrue(r.stderr.startswith("sluiced: "), r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        for m in mentions:
            self.assertIn(m, r.stderr)
        self.assertFalse(os.path.exists(data), "a refused config created the data dir")
        os.rmdir(tmp)
        return r.stderr

    def test_bad_configurations(self):
        self.refused("--bogus", mentions=["--bogus"])
        self.refused("--api.listen=nonsense", mentions=["api.listen", "nonsense", "HOST:PORT"])
        self.refused("--api-listen", "127.0.0.1:0", mentions=["api.listen", "127.0.0.1:0"])
        self.refused("--storage.writers=0", mentions=["storage.writers", "'0'", "between 1 and 64"])
        self.refused("--storage.nosuch=1", mentions=["storage.nosuch", "unknown key"])
        self.refused("--nosuch.key=1", mentions=["nosuch.key", "unknown section"])
        self.refused("--dpdk-ip", "300.1.1.1", mentions=["dpdk.ip", "300.1.1.1", "IPv4"])
        self.refused("--lcores", "3-1", mentions=["dpdk.lcores", "3-1"])
        self.refused("--dpdk-vdev", "net_null0", mentions=["dpdk.ip"])
        self.refused("--no-dpdk=yes", mentions=["--no-dpdk"])
        self.refused("--data-dir", mentions=["needs a value"])
        self.refused("--config", "/nonexistent/sluice.conf",
                     mentions=["/nonexistent/sluice.conf", "No such file"])
        self.refused("--api-listen", "127.0.0.1:7777", "--ingest-listen", "127.0.0.1:7777",
                     mentions=["api.listen", "ingest.listen"])

    def test_bad_file_names_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("; comment\n[dpdk]\nenabled = true\nmemory_mb = lots\n")
            path = f.name
        self.addCleanup(os.unlink, path)
        err = self.refused("--config", path)
        self.assertIn(f"{path}:4: dpdk.memory_mb = 'lots'", err)


@unittest.skipUnless(IS_ROOT, "DPDK EAL and veth pairs need root")
class Dataplane(unittest.TestCase):
    def start(self, *args):
        return start_daemon(self, *args)

    def stop_clean(self, d, prefix):
        self.assertEqual(d.stop(), 0, d.text())
        self.assertFalse(os.path.exists(f"/var/run/dpdk/{prefix}"),
                         "EAL runtime directory left behind")
        self.assertEqual(sorted(os.listdir(d.data_dir)), DATA_FILES)

    def test_net_null(self):
        prefix = f"sl-it-{os.getpid()}"
        d = self.start("--dpdk-vdev", "net_null0", "--dpdk-vdev", "net_null1",
                       "--dpdk-ip", "10.99.0.2", f"--dpdk.file_prefix={prefix}")
        text = d.text()
        self.assertRegex(text, rf"dpdk: EAL up: .* file prefix {prefix}, 2 port\(s\)")
        self.assertRegex(text, r"port 0: net_null0 \(driver net_null\)")
        self.assertRegex(text, r"port 1: net_null1 \(driver net_null\)")
        self.assertIn("dataplane DPDK", text)
        self.stop_clean(d, prefix)

    def test_af_packet_on_veth(self):
        veth = Veth(f"slit{os.getpid()}", f"slh{os.getpid() % 100000}",
                    f"slf{os.getpid() % 100000}", "10.203.0.1")
        self.addCleanup(veth.close)
        host_if = veth.host_if
        prefix = f"sl-it-af-{os.getpid()}"
        d = self.start("--dpdk-vdev", f"net_af_packet0,iface={host_if}",
                       "--dpdk-ip", "10.203.0.2", f"--dpdk.file_prefix={prefix}")
        self.assertRegex(d.text(), r"port 0: net_af_packet0 \(driver net_af_packet\)")
        self.stop_clean(d, prefix)

    def test_eal_refuses_then_kernel_backend(self):
        for args, why in ((["--lcores", "0,1000"], "may not run on"),
                          (["--dpdk.eal_args=--no-such-eal-flag"], "rte_eal_init failed")):
            prefix = f"sl-it-bad-{os.getpid()}"
            d = self.start("--dpdk-vdev", "net_null0", "--dpdk-ip", "10.99.0.2",
                           f"--dpdk.file_prefix={prefix}", *args)
            lines = [l for l in d.text().splitlines() if "DPDK not started" in l]
            self.assertEqual(len(lines), 1, d.text())
            self.assertIn(why, lines[0])
            self.assertIn("kernel backend", lines[0])
            self.assertIn("dataplane kernel", d.text())
            self.stop_clean(d, prefix)


if __name__ == "__main__":
    unittest.main(verbosity=2)
