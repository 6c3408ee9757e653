# SPDX-License-Identifier: BSD-3-Clause
"""GET /metrics of sluiced, read as the test and benchmarks need it.

The page is Prometheus text (telemetry/expo.c): counters in sets, each set
opened by a `# sluice-set NAME` line, each counter a series
sluice_<set>_<counter>_total after its `# TYPE ... counter` line. parse()
checks that layout and returns {set: {counter: value}}; flat() gives
{"<set>_<counter>": value} for code that names series whole.

The ingest core's books (docs/ARCHITECTURE.md, Ingest): every frame that
reached it ends in exactly one outcome, INGEST_OUTCOMES or a malformed_*
counter; every packet the DPDK RX loop takes ends in one of RX_FATES or a
bad_* counter of the dpdk_rx set.
"""
import urllib.request

from checks import check

INGEST_OUTCOMES = ("frames_ok", "frames_partial", "duplicate", "duplicate_in_flight",
                   "unauthorized", "too_large", "stream_not_found", "throttled",
                   "throttled_no_context", "stale_batch", "internal", "shutting_down")
RX_FATES = ("ingest_frames", "arp_replies", "icmp_replies", "not_for_us", "ip_fragments")
CONTENT_TYPE = "text/plain; version=0.0.4"


def parse(text):
    """GET /metrics's body as {set: {counter: value}}; checks.Failure when a
    set, series or TYPE line breaks the layout."""
    sets, cur, typed = {}, None, set()
    for line in text.splitlines():
        if line.startswith("# sluice-set "):
            cur = line[len("# sluice-set "):]
            check(cur not in sets, f"/metrics: set {cur} twice")
            sets[cur] = {}
        elif line.startswith("# TYPE "):
            name, kind = line.split(" ")[2:4]
            check(kind == "counter", f"/metrics: {line}")
            typed.add(name)
        elif line and not line.startswith("#"):
            name, value = line.split(" ")
            prefix = f"sluice_{cur}_"
            check(cur is not None and name.startswith(prefix) and name.endswith("_total"),
                  f"/metrics: series {name} in set {cur}")
            check(name in typed, f"/metrics: {name} without a TYPE line")
            counter = name[len(prefix):-len("_total")]
            check(counter not in sets[cur], f"/metrics: {name} twice")
            sets[cur][counter] = int(value)
    return sets


def fetch(api_port, timeout=10):
    """GET /metrics from the daemon on api_port, parsed (200 and the
    Prometheus content type checked)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics",
                                timeout=timeout) as r:
        check(r.status == 200, f"GET /metrics: {r.status}")
        ctype = r.headers.get("Content-Type", "")
        check(ctype.startswith(CONTENT_TYPE), f"/metrics content type {ctype}")
        return parse(r.read().decode())


def flat(sets):
    """{set: {counter: v}} as {"set_counter": v}, the series' names less
    sluice_ and _total."""
    return {f"{name}_{c}": v for name, counters in sets.items() for c, v in counters.items()}


def delta(after, before):
    """The counters of `after` less those of an earlier read `before`."""
    return {name: {k: v - before.get(name, {}).get(k, 0) for k, v in counters.items()}
            for name, counters in after.items()}


def ended(ingest):
    """How many frames of the ingest set ended in an outcome."""
    return sum(ingest.get(o, 0) for o in INGEST_OUTCOMES) + \
        sum(v for k, v in ingest.items() if k.startswith("malformed_"))


def rx_bad(rx):
    """Packets the RX loop found bad (the dpdk_rx set's bad_* counters)."""
    return sum(v for k, v in rx.items() if k.startswith("bad_"))


def rx_classified(rx):
    """Packets of the dpdk_rx set that the RX loop put in a class (KeyError
    when a class's counter is missing)."""
    return sum(rx[f] for f in RX_FATES) + rx_bad(rx)
