# SPDX-License-Identifier: BSD-3-Clause
"""Black-box tests of the `sluice` operator CLI (tools/sluice.c).

Runs the built binary ($SL_BUILD_ROOT/tools/sluice) as a process and checks:
- help at every level (`--help`, `-h`, `help`, `help config`, `config --help`,
  `config check --help`) goes to stdout, exits 0 and names the subcommands;
- usage errors (unknown command or option, missing command or argument)
  exit 2 with a message and a `--help` hint on stderr;
- `version` / `--version`, human and --json, report the version written in
  $SL_SOURCE_ROOT/meson.build and the allocator;
- `--endpoint` (and $SLUICE_ENDPOINT) validation: bad URLs exit 2 naming the
  value, good ones are accepted;
- `config check` accepts a valid file and rejects unknown keys, unknown
  sections and bad values (exit 2, the key named), in human and --json form;
- command-line overrides are applied (`config show --json` reflects them);
- etc/sluice.conf, the shipped configuration, passes `config check`.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "helpers"))
from checks import ExitAssertions  # noqa: E402

# The build says which allocator the tools must run on: jemalloc, except in
# sanitizer builds (the sanitizer's own). Dropping jemalloc fails this.
ALLOC_RE = {"jemalloc": r"jemalloc \S+", "system": "system"}[
    os.environ.get("SL_EXPECT_ALLOCATOR", "jemalloc")]

BUILD_ROOT = os.environ.get("SL_BUILD_ROOT", "")
SOURCE_ROOT = os.environ.get("SL_SOURCE_ROOT", "")
SLUICE = os.path.join(BUILD_ROOT, "tools", "sluice")
TIMEOUT_S = 20


def run(*args, env_extra=None, drop_env=("SLUICE_ENDPOINT",)):
    """Run sluice with `args`; returns the CompletedProcess (text mode)."""
    env = {k: v for k, v in os.environ.items() if k not in drop_env}
    env.update(env_extra or {})
    return subprocess.run([SLUICE, *args], capture_output=True, text=True,
                          env=env, timeout=TIMEOUT_S, check=False)


def meson_version():
    """The project version, read from meson.build's project() call."""
    with open(os.path.join(SOURCE_ROOT, "meson.build"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"\bversion\s*:\s*'([^']+)'", text)
    if not m:
        raise AssertionError("no version: in meson.build")
    return m.group(1)


class CliTestCase(ExitAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BUILD_ROOT or not SOURCE_ROOT:
            raise AssertionError("set SL_BUILD_ROOT and SL_SOURCE_ROOT")
        if not os.access(SLUICE, os.X_OK):
            raise AssertionError(f"{SLUICE} is not built")
        cls.tmp = tempfile.TemporaryDirectory(prefix="sluice-cli-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def write_conf(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def assert_usage_error(self, proc, *needles):
        """Exit 2, nothing on stdout, each needle and a --help hint on stderr."""
        self.assert_exit(proc, 2)
        self.assertEqual(proc.stdout, "")
        for needle in needles:
            self.assertIn(needle, proc.stderr)
        self.assertIn("--help", proc.stderr)


class HelpTest(CliTestCase):
    def test_root_help(self):
        for args in (["--help"], ["-h"], ["help"]):
            with self.subTest(args=args):
                p = run(*args)
                self.assert_exit(p, 0)
                self.assertTrue(p.stdout.startswith("usage: sluice"))
                for name in ("version", "config check", "config show", "help",
                             "--endpoint", "--json"):
                    self.assertIn(name, p.stdout)
                self.assertEqual(p.stderr, "")

    def test_group_help(self):
        for args in (["help", "config"], ["config", "--help"], ["config", "-h"]):
            with self.subTest(args=args):
                p = run(*args)
                self.assert_exit(p, 0)
                self.assertIn("config", p.stdout.splitlines()[0])
                self.assertRegex(p.stdout, r"(?m)^\s+check\s")
                self.assertRegex(p.stdout, r"(?m)^\s+show\s")

    def test_leaf_help(self):
        cases = {
            ("config", "check", "--help"): "config check [FILE]",
            ("help", "config", "check"): "config check [FILE]",
            ("config", "show", "-h"): "--doc",
            ("version", "--help"): "version",
            ("help", "help"): "help [COMMAND",
        }
        for args, needle in cases.items():
            with self.subTest(args=args):
                p = run(*args)
                self.assert_exit(p, 0)
                self.assertTrue(p.stdout.startswith("usage: sluice"))
                self.assertIn(needle, p.stdout)

    def test_help_does_not_need_valid_endpoint_for_leaf(self):
        # Global options are all parsed first; help wins over a bad endpoint.
        p = run("--endpoint", "nonsense", "--help")
        self.assert_exit(p, 0)


class UsageErrorTest(CliTestCase):
    def test_unknown_command(self):
        p = run("frobnicate")
        self.assert_usage_error(p, "frobnicate", "sluice --help")

    def test_unknown_nested_command(self):
        p = run("config", "frobnicate")
        self.assert_usage_error(p, "frobnicate", "sluice config --help")

    def test_unknown_help_topic(self):
        self.assert_usage_error(run("help", "frobnicate"), "frobnicate")

    def test_unknown_global_option(self):
        p = run("--frobnicate", "version")
        self.assert_usage_error(p, "--frobnicate", "sluice --help")

    def test_unknown_leaf_option(self):
        self.assert_usage_error(run("version", "--frobnicate"), "--frobnicate")
        self.assert_usage_error(run("config", "check", "--frobnicate"), "--frobnicate")

    def test_missing_command(self):
        self.assert_exit(run(), 2)
        self.assert_exit(run("config"), 2)
        self.assert_exit(run("--json"), 2)

    def test_missing_argument(self):
        self.assert_usage_error(run("--endpoint"), "--endpoint")
        self.assert_usage_error(run("config", "check", "--api.listen"), "api.listen")

    def test_extra_argument(self):
        self.assert_usage_error(run("config", "check", "a.conf", "b.conf"), "b.conf")


class VersionTest(CliTestCase):
    def test_human(self):
        want = meson_version()
        for args in (["version"], ["--version"]):
            with self.subTest(args=args):
                p = run(*args)
                self.assert_exit(p, 0)
                self.assertRegex(
                    p.stdout.strip(),
                    r"^sluice " + re.escape(want) +
                    r" \(allocator " + ALLOC_RE + r"\)$")

    def test_json(self):
        want = meson_version()
        for args in (["--json", "version"], ["version", "--json"],
                     ["--json", "--version"]):
            with self.subTest(args=args):
                p = run(*args)
                self.assert_exit(p, 0)
                self.assertEqual(p.stdout.count("\n"), 1)
                doc = json.loads(p.stdout)
                self.assertEqual(doc["version"], want)
                self.assertRegex(doc["allocator"], "^" + ALLOC_RE + "$")


class EndpointTest(CliTestCase):
    BAD = {
        "127.0.0.1:4567": "no scheme",
        "ftp://127.0.0.1": "wrong scheme",
        "http://127.0.0.1:0": "port 0",
        "http://127.0.0.1:70000": "port 70000",
        "http://127.0.0.1:": "empty port",
        "http://127.0.0.1:4x": "port not digits",
        "http://:4567": "empty host",
        "http://": "empty host",
        "http://user@host:80": "user info",
        "http://" + "a" * 600 + ":80": "too long",
    }
    GOOD = ["http://127.0.0.1:4567", "http://localhost", "https://example.com",
            "https://example.com:8443/", "http://[::1]:4567", "HTTP://host.example:1",
            "http://10.0.0.1:65535"]

    def test_bad_values_name_the_value(self):
        for url, why in self.BAD.items():
            with self.subTest(why=why):
                p = run("--endpoint", url, "version")
                self.assert_exit(p, 2)
                self.assertEqual(p.stdout, "")
                self.assertIn("--endpoint", p.stderr)
                self.assertIn(url[:60], p.stderr)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_too_long_says_so(self):
        p = run("--endpoint", "http://" + "a" * 600, "version")
        self.assert_exit(p, 2)
        self.assertIn("512", p.stderr)

    def test_good_values(self):
        for url in self.GOOD:
            with self.subTest(url=url):
                self.assert_exit(run("--endpoint", url, "version"), 0)
                self.assert_exit(run("--endpoint=" + url, "version"), 0)

    def test_environment(self):
        p = run("version", env_extra={"SLUICE_ENDPOINT": "http://127.0.0.1:0"})
        self.assert_exit(p, 2)
        self.assertIn("SLUICE_ENDPOINT", p.stderr)
        self.assertIn("http://127.0.0.1:0", p.stderr)
        p = run("version", env_extra={"SLUICE_ENDPOINT": "http://127.0.0.1:9"})
        self.assert_exit(p, 0)
        # --endpoint replaces the environment's value.
        p = run("--endpoint", "http://127.0.0.1:9", "version",
                env_extra={"SLUICE_ENDPOINT": "bad"})
        self.assert_exit(p, 0)


class ConfigCheckTest(CliTestCase):
    INVALID = {
        "unknown key": ("[api]\nlisten = 127.0.0.1:4567\nbogus_key = 1\n", "bogus_key"),
        "unknown section": ("[nosuchsection]\nx = 1\n", "nosuchsection"),
        "bad listen": ("[api]\nlisten = nonsense\n", "listen"),
        "bad ip": ("[dpdk]\nip = 300.1.2.3\n", "ip"),
        "key twice": ("[api]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n", "listen"),
    }

    def test_valid_file(self):
        path = self.write_conf("ok.conf", "[api]\nlisten = 127.0.0.1:4568\n")
        p = run("config", "check", path)
        self.assert_exit(p, 0)
        self.assertEqual(p.stdout.strip(), f"{path}: ok")
        p = run("--json", "config", "check", path)
        self.assert_exit(p, 0)
        self.assertEqual(json.loads(p.stdout), {"ok": True})

    def test_defaults_alone_are_valid(self):
        self.assert_exit(run("config", "check"), 0)

    def test_invalid_files(self):
        for name, (text, key) in self.INVALID.items():
            with self.subTest(name=name):
                path = self.write_conf(name.replace(" ", "_") + ".conf", text)
                p = run("config", "check", path)
                self.assert_exit(p, 2)
                self.assertEqual(p.stdout, "")
                self.assertIn(key, p.stderr)
                p = run("--json", "config", "check", path)
                self.assert_exit(p, 2)
                doc = json.loads(p.stdout)
                self.assertIs(doc["ok"], False)
                self.assertIn(key, doc["error"])

    def test_invalid_overrides(self):
        cases = [("--api.listen=nonsense", "api.listen"),
                 ("--dpdk.ip=300.1.2.3", "dpdk.ip"),
                 ("--api.bogus_key=1", "bogus_key"),
                 ("--nosuchsection.x=1", "nosuchsection")]
        for arg, key in cases:
            with self.subTest(arg=arg):
                p = run("config", "check", arg)
                self.assert_exit(p, 2)
                self.assertIn(key, p.stderr)

    def test_override_fixes_file(self):
        # The command line replaces the file's value before validation.
        path = self.write_conf("clash.conf", "[api]\nlisten = 127.0.0.1:7400\n")
        self.assert_exit(run("config", "check", path), 2)
        self.assert_exit(run("config", "check", path, "--api.listen", "127.0.0.1:4567"), 0)

    def test_unreadable_file(self):
        path = os.path.join(self.tmp.name, "does-not-exist.conf")
        p = run("config", "check", path)
        self.assert_exit(p, 1)
        self.assertIn(path, p.stderr)

    def test_shipped_configuration(self):
        path = os.path.join(SOURCE_ROOT, "etc", "sluice.conf")
        if not os.path.exists(path):
            self.skipTest("etc/sluice.conf does not exist yet")
        p = run("config", "check", path)
        self.assert_exit(p, 0)


class ConfigShowTest(CliTestCase):
    def show_json(self, *args):
        p = run("--json", "config", "show", *args)
        self.assert_exit(p, 0)
        self.assertEqual(p.stdout.count("\n"), 1)
        return json.loads(p.stdout)

    def test_defaults(self):
        doc = self.show_json()
        self.assertEqual(doc["api.listen"], "127.0.0.1:4567")
        self.assertTrue(all(isinstance(v, str) for v in doc.values()))
        self.assertTrue(all(re.fullmatch(r"[a-z_]+\.[a-z_]+", k) for k in doc))

    def test_overrides_applied(self):
        doc = self.show_json("--api.listen=127.0.0.1:9999")
        self.assertEqual(doc["api.listen"], "127.0.0.1:9999")
        doc = self.show_json("--api.listen", "127.0.0.1:9998")
        self.assertEqual(doc["api.listen"], "127.0.0.1:9998")

    def test_override_replaces_file(self):
        path = self.write_conf("show.conf", "[api]\nlisten = 127.0.0.1:1234\n")
        self.assertEqual(self.show_json(path)["api.listen"], "127.0.0.1:1234")
        doc = self.show_json(path, "--api.listen=127.0.0.1:9999")
        self.assertEqual(doc["api.listen"], "127.0.0.1:9999")

    def test_list_elements_joined(self):
        doc = self.show_json("--dpdk.ip=10.0.0.2", "--dpdk.vdev=net_null0",
                             "--dpdk.vdev=net_null1")
        self.assertEqual(doc["dpdk.vdev"].split("\n"), ["net_null0", "net_null1"])

    def test_human_and_doc(self):
        p = run("config", "show", "--api.listen=127.0.0.1:9999")
        self.assert_exit(p, 0)
        self.assertIn("[api]", p.stdout)
        self.assertRegex(p.stdout, r"(?m)^listen = 127\.0\.0\.1:9999$")
        self.assertNotRegex(p.stdout, r"(?m)^;")
        p = run("config", "show", "--doc")
        self.assert_exit(p, 0)
        self.assertRegex(p.stdout, r"(?m)^; ")

    def test_show_round_trips_through_check(self):
        p = run("config", "show", "--doc", "--api.listen=127.0.0.1:9999")
        self.assert_exit(p, 0)
        path = self.write_conf("roundtrip.conf", p.stdout)
        self.assert_exit(run("config", "check", path), 0)
        self.assertEqual(self.show_json(path)["api.listen"], "127.0.0.1:9999")

    def test_invalid_is_reported(self):
        p = run("config", "show", "--api.listen=nonsense")
        self.assert_exit(p, 2)
        self.assertIn("api.listen", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
