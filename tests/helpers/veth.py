# SPDX-License-Identifier: BSD-3-Clause
"""A veth pair whose far end sits in a network namespace made for it (root).

The near end (host_if) stays in this namespace, up and without an address,
for a DPDK port (net_af_packet) to take; the far end (far_if) gets far_ip/24
in the namespace ns, where a producer, a fake appliance or sluice-gen runs
(`ip netns exec NS ...`). IPv6 is off on both ends, so that every frame
crossing the pair is one the test sent (no router solicitations). close()
removes what was made, also when making it failed half-way.
"""
import subprocess


def _sh(*args):
    subprocess.run(list(args), check=True)


class Veth:
    def __init__(self, ns, host_if, far_if, far_ip):
        self.ns, self.host_if, self.far_if, self.far_ip = ns, host_if, far_if, far_ip
        self.made = []
        try:
            _sh("ip", "netns", "add", ns)
            self.made.append("ns")
            _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", far_if)
            self.made.append("veth")
            _sh("ip", "link", "set", far_if, "netns", ns)
            for args in (["sysctl", "-qw", f"net.ipv6.conf.{host_if}.disable_ipv6=1"],
                         ["ip", "netns", "exec", ns, "sysctl", "-qw",
                          f"net.ipv6.conf.{far_if}.disable_ipv6=1"]):
                subprocess.run(args, stderr=subprocess.DEVNULL, check=False)
            _sh("ip", "link", "set", host_if, "up")
            _sh("ip", "-n", ns, "addr", "add", f"{far_ip}/24", "dev", far_if)
            _sh("ip", "-n", ns, "link", "set", far_if, "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def close(self):
        if "veth" in self.made:
            subprocess.run(["ip", "link", "del", self.host_if], stderr=subprocess.DEVNULL,
                           check=False)
        if "ns" in self.made:
            subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL,
                           check=False)
        self.made = []
