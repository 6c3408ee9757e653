# SPDX-License-Identifier: BSD-3-Clause
"""The Python half of perf/bench_dataplane.sh: the DPDK dataplane, measured.

  bench_dataplane.py SLUICED SLUICE_GEN SCRATCH [--quick]

Part 1, rx: what one RX lcore parses, hashes and enqueues, fed from memory.
For 64-byte and 512-byte records (data; each with a random 16-character
partition key), a pcap file of PCAP_FRAMES SLW1 datagrams: Ethernet/IPv4/
UDP to OUR_IP:7400, each frame as many records as fit in 1472 bytes of UDP
payload (16 and 2), producer_id 0 (anonymous: a replayed frame is stored
again, never a duplicate), ACK_REQUESTED clear. net_pcap replays it forever
(rx_pcap=FILE,infinite_rx=1; no tx_pcap, so TX drops) into
  - dpdk-testpmd --forward-mode=rxonly, its forwarding lcore on CPU 1: the
    reference, what the port alone hands one lcore (before and after
    sluiced; the mean of the two), and
  - sluiced: its one RX lcore on CPU 1; main thread, shard writer and
    control thread on CPU 0; a stream of 4 shards in durability none
    (SluiceDurability: acked once enqueued, so the writer only copies),
    then again in fsync; RX_TUNING.
After a warm-up, each side's counters are read twice, 5 s apart (2 s with
--quick): testpmd's port stats, sluiced's GET /metrics. The figure is the
records of the frames that were hashed and offered to the shard rings per
second in durability none, stored or refused THROTTLED by a full ring (the
writer's limit, reported beside it as the records stored per second and
the share throttled); the fsync run gives the records stored per second
in the default durability.

Part 2, e2e: sluice-gen end to end in fsync durability. A veth pair, its
far end in a network namespace made (and removed) here; sluiced on
net_af_packet on the near end (defaults, RX lcore on CPU 1), sluice-gen on
net_af_packet on the far end (its own EAL on CPU 0), window 64 (the most
WIRE.md's dedupe window allows in flight), as fast as the window allows,
10 s (3 s with --quick). Acked records/s, MB/s of record data, ack
latency, and the accounting between the generator's report and sluiced's
counters, which must balance exactly.

Figure and target lines go to stdout (perf/run.sh's contract), the rest to
stderr. Exit 0, 1 when anything failed or did not balance (no figure
printed then), 2 usage, 77 when the machine cannot run it (not root, no
CPU 0 and 1).
"""
import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

# The SLW1 codec, pcap writer, /metrics reader and daemon runner the tests use.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "helpers"))
import kinesis  # noqa: E402
import metrics  # noqa: E402
import pcap  # noqa: E402
import slw1  # noqa: E402
from checks import Failure, check  # noqa: E402
from sluiced import Sluiced  # noqa: E402
from slw1 import build_frame  # noqa: E402
from veth import Veth  # noqa: E402

SKIP = 77
RX_CPU, MAIN_CPU = 1, 0
UDP_PORT = 7400
SHARDS = 4
KEY_LEN = 16
UDP_PAYLOAD_MAX = 1472  # MTU 1500 - IPv4 - UDP
SIZES = (64, 512)
PCAP_FRAMES = 1024  # net_pcap keeps them in mbufs of the RX pool
GEN_WINDOW = 64
RX_BURST_MAX = 256  # dpdk.rx_burst's bound (dataplane/rx.h)
# Part 1's sluiced: frame contexts to spare, so that when storage falls
# behind, the shard rings fill (THROTTLED after the hash: the writer's
# limit) before the contexts run out (THROTTLED before the hash). With the
# defaults (4096 frames in flight, 8192 mbufs) the frames awaiting storage
# hold every context, and many frames (most, in fsync) are refused
# unhashed, which measures the parser alone.
RX_TUNING = ["--ingest.frames_max=65536", "--dpdk.mbufs=131072", "--dpdk.memory_mb=1024"]
# sluiced, testpmd and sluice-gen run at the highest CFS weight, so that on
# a shared machine other work takes little of the lcore's CPU (what an
# isolated core gives an RX lcore; how little is reported). Each runs in a
# session of its own whose autogroup gets the same weight (with autogroups,
# CFS shares a CPU between sessions first, whatever the nice values).
NICE = ["nice", "-n", "-20"]
PEER_MAC = bytes.fromhex("020000000099")
PEER_IP, OUR_IP = "10.77.0.1", "10.77.0.2"
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 60
TARGET_RX_64B_MRPS = 5.0
ISSUE_RX = "issue 4 (1): >= 5 M records/s per RX lcore, 64-byte records"
DPDK_UP = "DPDK ingest: SLW1 on UDP"


def say(msg):
    print(f"bench_dataplane: {msg}", file=sys.stderr, flush=True)


def spawn(cmd, **kw):
    """Start cmd at NICE in a new session, its autogroup at -20 too."""
    p = subprocess.Popen(NICE + cmd, start_new_session=True, **kw)
    try:
        with open(f"/proc/{p.pid}/autogroup", "w") as f:
            f.write("-20")
    except OSError:
        pass  # no autogroups: nice alone does it
    return p


# ---------------------------------------------------------------- SLW1 ----

def records_per_frame(stream, size):
    return (UDP_PAYLOAD_MAX - slw1.FRAME_HEADER_BYTES - len(stream) - slw1.CRC_BYTES) // (
        slw1.RECORD_OVERHEAD_BYTES + KEY_LEN + size)


def write_pcap(path, stream, size, count, seed):
    """PCAP_FRAMES Ethernet/IPv4/UDP datagrams to OUR_IP:UDP_PORT."""
    rng = random.Random(seed)
    per = records_per_frame(stream, size)
    frames = []
    for i in range(count):
        recs = [(b"%016x" % rng.getrandbits(64), rng.randbytes(size)) for _ in range(per)]
        # Producer 0 (anonymous), no ack asked.
        payload = build_frame(stream, recs, 0, i + 1, flags=0)
        check(len(payload) <= UDP_PAYLOAD_MAX, f"frame of {len(payload)} bytes")
        ip = pcap.ipv4(pcap.udp(payload, 40000 + i % 64, UDP_PORT), PEER_IP, OUR_IP,
                       ident=i & 0xFFFF)
        # Broadcast: the port's MAC is not known before it starts.
        frames.append(pcap.ether(ip, PEER_MAC))
    pcap.write(path, frames)
    return per


# ------------------------------------------------------------- helpers ----

class CpuShare:
    """How CPU RX_CPU was spent between two samples: by one thread (the RX
    lcore, testpmd's forwarding lcore), by interrupts, by anything else."""

    def __init__(self, pid, thread):
        self.stat = None
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/comm") as f:
                    if f.read().strip() == thread:
                        self.stat = f"/proc/{pid}/task/{t}/stat"
            except OSError:
                pass
        check(self.stat, f"no thread {thread} in process {pid}")
        self.a = self._sample()

    def _sample(self):
        with open(self.stat) as f:
            v = f.read().rsplit(")", 1)[1].split()
        thread = int(v[11]) + int(v[12])  # utime, stime
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith(f"cpu{RX_CPU} "):
                    c = [int(x) for x in line.split()[1:]]
        return thread, sum(c), c[3] + c[4], c[5] + c[6]  # total, idle+iowait, irq+softirq

    def done(self):
        b = self._sample()
        total = max(1, b[1] - self.a[1])
        thread = (b[0] - self.a[0]) / total
        irq = (b[3] - self.a[3]) / total
        busy = 1 - (b[2] - self.a[2]) / total
        return {"thread": thread, "irq": irq, "other": max(0.0, busy - thread - irq)}


def share_text(c):
    return (f"CPU {RX_CPU}: {100 * c['thread']:.0f}% the lcore, {100 * c['irq']:.0f}% "
            f"interrupts, {100 * c['other']:.0f}% other tasks")


class Daemon(Sluiced):
    """sluiced on a scratch data directory: RX lcore on RX_CPU, the rest on MAIN_CPU."""

    def __init__(self, sluiced, scratch, tag, args):
        data = os.path.join(scratch, f"var-{tag}")
        shutil.rmtree(data, ignore_errors=True)
        super().__init__(sluiced, data_dir=data, log_dir=scratch, name=f"sluiced-{tag}",
                         dpdk_prefix=f"sl-dpb-{os.getpid()}-{tag}", spawn=spawn,
                         ready_timeout_s=READY_TIMEOUT_S, stop_timeout_s=STOP_TIMEOUT_S)
        self.start("--ingest.kernel=off", "--lcores", f"{MAIN_CPU},{RX_CPU}", *args)

    def create_stream(self, name, durability="fsync"):
        status, body = kinesis.call(self.api_port, "CreateStream",
                                    {"StreamName": name, "ShardCount": SHARDS,
                                     "SluiceDurability": durability})
        check(status == 200, f"CreateStream {name}: {status} {body}")

    def read_metrics(self):
        """GET /metrics as {set: {counter: value}}, and the time it was read
        (the middle of the request)."""
        t0 = time.monotonic()
        m = metrics.fetch(self.api_port, timeout=30)
        t1 = time.monotonic()
        check("ingest" in m and "dpdk_rx" in m, "GET /metrics has no set ingest or dpdk_rx")
        return m, (t0 + t1) / 2

    def close(self):
        super().close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# ------------------------------------------------------- part 1: testpmd ----

class Testpmd:
    """dpdk-testpmd, interactive, rxonly on one forwarding lcore (RX_CPU)."""

    def __init__(self, pcap_path, scratch, tag):
        self.prefix = f"sl-dpb-{os.getpid()}-testpmd-{tag}"
        self.log_path = os.path.join(scratch, f"testpmd-{tag}.log")
        # stdbuf: testpmd's answers would sit in stdio's buffer on a pipe.
        cmd = ["stdbuf", "-oL", "dpdk-testpmd", "-l", f"{MAIN_CPU},{RX_CPU}",
               "--main-lcore", str(MAIN_CPU), "--no-huge", "--no-shconf", "-m", "1024",
               "--no-pci", "--no-telemetry", "--file-prefix", self.prefix,
               "--vdev", f"net_pcap0,rx_pcap={pcap_path},infinite_rx=1", "--",
               "-i", "--forward-mode=rxonly", "--port-topology=loop", "--nb-cores=1",
               "--total-num-mbufs=16384"]
        self.lines = queue.Queue()
        self.log = open(self.log_path, "w")
        self.proc = spawn(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.lines.put(line)
        self.lines.put(None)

    def _expect(self, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.log.flush()
                with open(self.log_path) as f:
                    raise Failure(f"testpmd: no '{pattern}':\n{f.read()[-3000:]}")
            m = re.search(pattern, line)
            if m:
                return m

    def cmd(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def rx_packets(self):
        """RX-packets of port 0 and when it was asked for."""
        t = time.monotonic()
        self.cmd("show port stats 0")
        rx = int(self._expect(r"RX-packets:\s+(\d+)").group(1))
        nombuf = int(self._expect(r"RX-nombuf:\s+(\d+)").group(1))
        return rx, nombuf, t

    def run(self, warm_s, seconds):
        self._expect(r"Port 0: ")  # the port is up
        self.cmd("start")
        self._expect(r"rxonly packet forwarding")
        time.sleep(warm_s)
        cpu = CpuShare(self.proc.pid, f"rte-worker-{RX_CPU}")
        rx0, nb0, t0 = self.rx_packets()
        time.sleep(seconds)
        rx1, nb1, t1 = self.rx_packets()
        self.cpu = cpu.done()
        self.cmd("stop")
        self.cmd("quit")
        try:
            code = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        check(code == 0, f"testpmd exit {code} (log {self.log_path})")
        return (rx1 - rx0) / (t1 - t0), nb1 - nb0

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)


def testpmd_pps(pcap_path, scratch, tag, warm_s, seconds):
    t = Testpmd(pcap_path, scratch, tag)
    try:
        pps, nombuf = t.run(warm_s, seconds)
    finally:
        t.close()
    say(f"  testpmd rxonly ({tag}): {pps / 1e6:.3f} M packets/s, RX-nombuf {nombuf}; "
        f"{share_text(t.cpu)}")
    return pps


# ------------------------------------------------------- part 1: sluiced ----

def rx_sluiced(sluiced, scratch, pcap_path, stream, per, durability, warm_s, seconds, tag):
    d = Daemon(sluiced, scratch, tag,
               ["--dpdk-vdev", f"net_pcap0,rx_pcap={pcap_path},infinite_rx=1",
                "--dpdk-ip", OUR_IP] + RX_TUNING)
    try:
        d.wait_ready(require=DPDK_UP)
        # Until the stream exists its frames are STREAM_NOT_FOUND; the
        # interval measured starts warm_s after.
        d.create_stream(stream, durability)
        time.sleep(warm_s)
        cpu = CpuShare(d.proc.pid, f"rte-worker-{RX_CPU}")
        m0, t0 = d.read_metrics()
        time.sleep(seconds)
        m1, t1 = d.read_metrics()
        share = cpu.done()
        text = d.stop_clean()
    except Exception:
        say(f"sluiced log ({tag}):\n" + d.text()[-4000:])
        raise
    finally:
        d.close()
    dn = metrics.delta(m1, m0)
    dm = metrics.flat(dn)
    dt = t1 - t0
    # The counters are read while the lcore runs: one counter may be a
    # burst ahead of another (the RX loop adds its own once per burst, the
    # ingest core per frame), and frames awaiting storage have no outcome
    # yet. Within those bounds, every frame is valid, to an existing
    # stream, with `per` records, and every packet an SLW1 frame.
    slack = RX_BURST_MAX
    check(abs(dm["ingest_records"] - per * dm["ingest_frames"]) <= per * slack,
          f"{tag}: {dm['ingest_records']} records in {dm['ingest_frames']} frames of {per}")
    m = re.search(r"RX lcore \d+: .* (\d+) frames in flight at most", text)
    check(m, f"{tag}: the RX lcore's frames in flight not logged")
    inflight_max = int(m.group(1)) * 17 // 16 + 4  # small + large contexts
    outcome = sum(dm.get("ingest_" + o, 0) for o in metrics.INGEST_OUTCOMES)
    check(abs(dm["ingest_frames"] - outcome) <= inflight_max + slack,
          f"{tag}: {dm['ingest_frames']} frames, {outcome} outcomes")
    fates = metrics.rx_classified(dn["dpdk_rx"])
    check(abs(dm["dpdk_rx_rx_packets"] - fates) <= slack,
          f"{tag}: rx_packets {dm['dpdk_rx_rx_packets']}, accounted {fates}")
    check(abs(dm["dpdk_rx_ingest_frames"] - dm["ingest_frames"]) <= slack,
          f"{tag}: the RX loop handed {dm['dpdk_rx_ingest_frames']} frames to the ingest core, "
          f"which counted {dm['ingest_frames']}")
    check(abs(dm["dpdk_rx_rx_packets"] - dm["dpdk_rx_ingest_frames"]) <= slack,
          f"{tag}: packets other than SLW1 frames taken ({dm})")
    # The port's counters are read from the driver after the counter sets,
    # in each of the two samples: the two deltas may differ by what the
    # port took in the time between those reads (well under 0.1%).
    port_slack = slack + dm["port0_rx_packets"] // 1000
    check(abs(dm["port0_rx_packets"] - dm["dpdk_rx_rx_packets"]) <= port_slack,
          f"{tag}: the port received {dm['port0_rx_packets']} packets, the lcore took "
          f"{dm['dpdk_rx_rx_packets']}")
    check(dm["ingest_frames_ok"] > 0, f"{tag}: nothing stored")
    r = {
        "seconds": dt,
        "cpu": share,
        "pps": dm["dpdk_rx_rx_packets"] / dt,
        "records_per_s": dm["ingest_records"] / dt,
        # Records that were hashed and offered to the shard rings: frames
        # stored whole or in part, and frames the full rings refused.
        "enqueue_per_s": per * (dm["ingest_frames_ok"] + dm["ingest_frames_partial"] +
                                dm["ingest_throttled"]) / dt,
        "stored_per_s": dm["ingest_records_stored"] / dt,
        # Of the records offered to the rings, those refused (a full ring:
        # nothing else refuses a record after the hash here).
        "throttled_share": dm["ingest_records_rejected"] /
        max(1, dm["ingest_records_stored"] + dm["ingest_records_rejected"]),
        "nombuf": dm["port0_rx_nombuf"],
        "frames": dm["ingest_frames"],
        "ok": dm["ingest_frames_ok"],
        "partial": dm["ingest_frames_partial"],
        "throttled": dm["ingest_throttled"],
        "no_context": dm["ingest_throttled_no_context"],
        "other": dm["ingest_frames"] - dm["ingest_frames_ok"] - dm["ingest_frames_partial"] -
        dm["ingest_throttled"] - dm["ingest_throttled_no_context"],
    }
    say(f"  sluiced ({tag}): {r['pps'] / 1e6:.3f} M frames/s taken by the RX "
        f"lcore (port: RX-nombuf {r['nombuf']}), "
        f"{r['records_per_s'] / 1e6:.3f} M records/s parsed, {r['enqueue_per_s'] / 1e6:.3f} M "
        f"hashed and offered to the rings, {r['stored_per_s'] / 1e6:.3f} M stored "
        f"(frames: {r['ok']} ok, {r['partial']} partial, {r['throttled']} throttled by full "
        f"rings, {r['no_context']} throttled with every frame context awaiting storage, "
        f"{r['other']} not finished yet, give or take the skew between counters read "
        f"while they move); {share_text(share)}")
    return r


def part_rx(sluiced, scratch, quick):
    warm_s, seconds = (1, 2) if quick else (2, 5)
    figs = []
    for size in SIZES:
        stream = f"dp-rx-{size}b"
        pcap_path = os.path.join(scratch, f"rx-{size}b.pcap")
        per = write_pcap(pcap_path, stream, size, PCAP_FRAMES, seed=size)
        say(f"rx {size}-byte records: {per} records per frame, {PCAP_FRAMES} frames replayed "
            f"by net_pcap (infinite_rx)")
        ref_a = testpmd_pps(pcap_path, scratch, f"{size}b-before", warm_s, seconds)
        r = rx_sluiced(sluiced, scratch, pcap_path, stream, per, "none", warm_s, seconds,
                       f"{size}b-none")
        f = rx_sluiced(sluiced, scratch, pcap_path, stream, per, "fsync", warm_s, seconds,
                       f"{size}b-fsync")
        ref_b = testpmd_pps(pcap_path, scratch, f"{size}b-after", warm_s, seconds)
        os.unlink(pcap_path)
        figs.append((size, per, r, f, (ref_a + ref_b) / 2))
    return figs


# -------------------------------------------------------- part 2: e2e ----

class Net(Veth):
    """A veth pair, its far end (the generator's) in a network namespace;
    ip: dpdk.ip. Removed by close()."""

    def __init__(self):
        tag = os.getpid() % 100000
        n = 200 + tag % 50
        super().__init__(f"sldpb{tag}", f"sldpbh{tag}", f"sldpbf{tag}", f"10.{n}.9.1")
        self.ip = f"10.{n}.9.2"


def run_gen(sluice_gen, net, stream, size, per, seconds):
    cmd = ["ip", "netns", "exec", net.ns, sluice_gen,
           "--dpdk-vdev", f"net_af_packet0,iface={net.far_if}",
           "--src-ip", net.far_ip, "--dst-ip", net.ip, "--lcore", str(MAIN_CPU),
           "--stream", stream, "--records-per-frame", str(per), "--record-size", str(size),
           "--keys", f"random:{KEY_LEN}", "--window", str(GEN_WINDOW), "--rate", "max",
           "--duration", str(seconds), "--json"]
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    finally:
        if p.poll() is None:  # an exception (a signal) while it ran
            p.kill()
            p.wait()
        # ip netns exec execs the generator: its pid names its EAL prefix.
        shutil.rmtree(f"/var/run/dpdk/sluice-gen-{p.pid}", ignore_errors=True)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    check(lines, f"sluice-gen printed no report (exit {p.returncode}):\n{err[-3000:]}")
    return p.returncode, json.loads(lines[-1]), err


def e2e_check(tag, g, dn):
    """The accounting: generator and daemon agree, every drop is counted.
    dn: the daemon's counters over the run, by set."""
    dm = metrics.flat(dn)
    lines = []

    def line(what, ok, detail):
        lines.append(f"  check {tag}: {what}: {detail} -> {'ok' if ok else 'FAILED'}")
        return ok

    ok = True
    outcomes = g["frames_acked"] + g["failed"] + g["lost"] + g["interrupted"]
    ok &= line("frames sent = acked + failed + lost + interrupted",
               g["frames_sent"] == outcomes,
               f"{g['frames_sent']} = {g['frames_acked']} + {g['failed']} + {g['lost']} + "
               f"{g['interrupted']}")
    ok &= line("nothing lost, failed, badly acked, refused by the port or the socket",
               g["lost"] == 0 and g["failed"] == 0 and g["interrupted"] == 0 and
               g["bad_acks"] == 0 and g["send_errors"] == 0 and g["dpdk"]["tx_dropped"] == 0,
               f"lost {g['lost']} failed {g['failed']} interrupted {g['interrupted']} bad_acks "
               f"{g['bad_acks']} send_errors {g['send_errors']} tx_dropped "
               f"{g['dpdk']['tx_dropped']}")
    ok &= line("datagrams sent (with resends) = SLW1 frames the RX lcore took",
               g["transmissions"] == dm["dpdk_rx_ingest_frames"],
               f"{g['transmissions']} (retried {g['retried']}, throttle resends "
               f"{g['throttle_resends']}) = {dm['dpdk_rx_ingest_frames']}")
    ok &= line("packets the port received = packets the RX lcore took, none missed",
               dm["port0_rx_packets"] == dm["dpdk_rx_rx_packets"] and
               dm["port0_imissed"] == 0 and dm["port0_rx_nombuf"] == 0 and
               dm["port0_ierrors"] == 0,
               f"{dm['port0_rx_packets']} = {dm['dpdk_rx_rx_packets']}, imissed "
               f"{dm['port0_imissed']}, rx_nombuf {dm['port0_rx_nombuf']}, ierrors "
               f"{dm['port0_ierrors']}")
    fates = metrics.rx_classified(dn["dpdk_rx"])
    ok &= line("packets = SLW1 + ARP + ICMP + not for us + fragments + bad",
               dm["dpdk_rx_rx_packets"] == fates, f"{dm['dpdk_rx_rx_packets']} = {fates}")
    outs = {o: dm.get("ingest_" + o, 0) for o in metrics.INGEST_OUTCOMES}
    detail = " + ".join(f"{o} {v}" for o, v in outs.items() if v) or "0"
    ok &= line("frames = frames_ok + every other outcome",
               dm["ingest_frames"] == sum(outs.values()),
               f"{dm['ingest_frames']} = {detail}")
    ok &= line("records = stored + rejected",
               dm["ingest_records"] == dm["ingest_records_stored"] + dm["ingest_records_rejected"]
               + dm.get("ingest_records_duplicate", 0),
               f"{dm['ingest_records']} = {dm['ingest_records_stored']} + "
               f"{dm['ingest_records_rejected']} + {dm.get('ingest_records_duplicate', 0)}")
    ok &= line("records acked by the generator = records stored by sluiced",
               g["records_acked"] == dm["ingest_records_stored"],
               f"{g['records_acked']} = {dm['ingest_records_stored']}")
    ok &= line("ack datagrams: sent by sluiced = received by the generator, none dropped",
               dm["dpdk_rx_acks_sent"] == g["acks_received"] and
               dm.get("ingest_ack_tx_drop", 0) == 0 and dm.get("dpdk_rx_acks_dropped", 0) == 0 and
               dm.get("dpdk_rx_replies_dropped", 0) == 0,
               f"{dm['dpdk_rx_acks_sent']} = {g['acks_received']}, ack_tx_drop "
               f"{dm.get('ingest_ack_tx_drop', 0)}, ARP/ICMP answers dropped "
               f"{dm.get('dpdk_rx_replies_dropped', 0)}")
    for l in lines:
        say(l)
    return ok


def part_e2e(sluiced, sluice_gen, scratch, quick):
    seconds = 3 if quick else 10
    figs = []
    for size in SIZES:
        stream = f"dp-e2e-{size}b"
        per = records_per_frame(stream, size)
        tag = f"e2e-{size}b"
        net = Net()
        d = None
        try:
            d = Daemon(sluiced, scratch, tag,
                       ["--dpdk-vdev", f"net_af_packet0,iface={net.host_if}", "--dpdk-ip", net.ip])
            d.wait_ready(require=DPDK_UP)
            d.create_stream(stream)
            m0, _ = d.read_metrics()
            say(f"e2e {size}-byte records: sluice-gen over net_af_packet on a veth, {per} "
                f"records per frame, window {GEN_WINDOW}, {seconds} s, fsync durability")
            code, g, err = run_gen(sluice_gen, net, stream, size, per, seconds)
            m1, _ = d.read_metrics()
            d.stop_clean()
        except Exception:
            if d is not None:
                say(f"sluiced log ({tag}):\n" + d.text()[-4000:])
            raise
        finally:
            if d is not None:
                d.close()
            net.close()
        dn = metrics.delta(m1, m0)
        say(f"  sluice-gen: {g['frames_sent']} frames, {g['records_acked']} records acked in "
            f"{g['elapsed_s']:.2f} s, ack latency p50 {g['latency']['p50_us']:.0f} us, p99 "
            f"{g['latency']['p99_us']:.0f} us; exit {code}")
        balanced = e2e_check(tag, g, dn)
        check(balanced and code == 0,
              f"{tag}: the accounting does not balance (sluice-gen exit {code}):\n{err[-2000:]}")
        rps = g["records_acked"] / g["elapsed_s"]
        figs.append((size, per, rps, rps * size / 1e6, g))
    return figs


# ------------------------------------------------------------- main ----

def figure(name, value, unit, ref=None, ref_name="-"):
    r = "-" if ref is None else f"{ref:.3f}"
    print(f"figure\t{name}\t{value:.3f}\t{unit}\t{r}\t{ref_name}")


def main(argv):
    if len(argv) < 4 or (len(argv) == 5 and argv[4] != "--quick") or len(argv) > 5:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    sluiced, sluice_gen, scratch = argv[1:4]
    quick = len(argv) == 5
    if os.geteuid() != 0:
        say("skip: needs root (DPDK EAL, veth pairs, network namespaces)")
        return SKIP
    if not {MAIN_CPU, RX_CPU} <= os.sched_getaffinity(0):
        say(f"skip: needs CPUs {MAIN_CPU} and {RX_CPU}")
        return SKIP
    os.makedirs(scratch, exist_ok=True)

    def on_term(sig, frame):
        raise Failure(f"stopped by signal {sig}")

    # Every process, namespace and veth made here is undone in a finally:
    # a signal becomes an exception so that those run.
    signal.signal(signal.SIGTERM, on_term)
    try:
        rx = part_rx(sluiced, scratch, quick)
        e2e = part_e2e(sluiced, sluice_gen, scratch, quick)
    except Failure as e:
        say(f"FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        say("FAILED: interrupted")
        return 1
    ref_recs = "dpdk-testpmd rxonly, net_pcap infinite_rx, 1 lcore: packets/s x records/frame"
    ref_pkts = "dpdk-testpmd rxonly, net_pcap infinite_rx, 1 lcore"
    for size, per, r, f, ref in rx:
        name = f"dataplane_rx_{size}b_none_mrps"
        figure(name, r["enqueue_per_s"] / 1e6, "Mrecords/s", ref * per / 1e6,
               ref_recs + " (mean of 2)")
        if size == 64:
            print(f"target\t{name}\t{TARGET_RX_64B_MRPS}\t{ISSUE_RX}")
        figure(f"dataplane_rx_{size}b_none_mpps", r["pps"] / 1e6, "Mpackets/s", ref / 1e6,
               ref_pkts + " (mean of 2)")
        figure(f"dataplane_rx_{size}b_none_stored_mrps", r["stored_per_s"] / 1e6, "Mrecords/s")
        figure(f"dataplane_rx_{size}b_none_throttled_pct", 100 * r["throttled_share"], "%")
        figure(f"dataplane_rx_{size}b_fsync_stored_mrps", f["stored_per_s"] / 1e6, "Mrecords/s")
    for size, per, rps, mbps, g in e2e:
        base = f"dataplane_e2e_af_packet_{size}b_fsync"
        figure(base + "_krps", rps / 1e3, "krecords/s")
        figure(base + "_mbps", mbps, "MB/s")
        figure(base + "_p50_us", g["latency"]["p50_us"], "us")
        figure(base + "_p99_us", g["latency"]["p99_us"], "us")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
