# SPDX-License-Identifier: BSD-3-Clause
"""The Python half of perf/bench_api.sh: streams, bodies, drains, figures.

  bench_api.py bodies DIR            the request bodies wrk sends (put.lua)
  bench_api.py create URL SHARDS NAME...
                                     create the streams with boto3, wait ACTIVE
  bench_api.py drain URL STREAM RECORD_BYTES
                                     read the whole stream back, print one
                                     drain_result line
  bench_api.py report RESULTS CONNECTIONS PUT_S LAT_S KINESALITE
                                     check every run, print the tables on
                                     stderr and figure/target lines on stdout
                                     (CONNECTIONS and PUT_S: wrk's PutRecords
                                     load, LAT_S: the PutRecord one,
                                     KINESALITE: the reference's name)

The bodies are made once and sent unchanged to both servers, so sluice and
kinesalite parse the same bytes. Each PutRecords body holds 500 records of
random data with random partition keys (so the records spread over the
shards); there are BODIES_PER_FILE of each, sent in rotation.

The drain is a plain keep-alive HTTP client (http.client and json, the data
left base64-encoded apart from a length check of the first and last record
of each page), so that the client costs as little as it can next to the
server: boto3 would decode and copy every blob.

RESULTS is a file of lines "TAG<TAB>SERVER<TAB>wrk_result ..." (put.lua's
done() line) and "TAG<TAB>SERVER<TAB>drain_result ...", TAG one of the
run names below, SERVER "sluice" or "kinesalite".
"""
import base64
import http.client
import json
import os
import random
import sys
import time

# The Kinesis client helpers the tests use.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "helpers"))
import kinesis  # noqa: E402

RECORDS_PER_PUT = 500
BODIES_PER_FILE = 16
SINGLE_BODIES = 1000
STREAMS = {"100b": ("api-100b", 100), "1k": ("api-1k", 1024)}
WARM_STREAM = "api-warm"
# wrk runs: TAG -> (stream key, records per request); PutRecord writes into
# the 100-byte stream, so that stream holds 100-byte records only.
PUT_RUNS = {"put_100b": ("100b", RECORDS_PER_PUT), "put_1k": ("1k", RECORDS_PER_PUT),
            "put1_100b": ("100b", 1)}
TARGET_RATIO = 10
ISSUE = "issue 5: >= 10x kinesalite records/s, fsync-durable"


def die(msg):
    print(f"bench_api.py: {msg}", file=sys.stderr)
    sys.exit(1)


def put_records_body(rng, stream, record_bytes):
    records = [{"Data": base64.b64encode(rng.randbytes(record_bytes)).decode(),
                "PartitionKey": f"pk-{rng.getrandbits(64):016x}"}
               for _ in range(RECORDS_PER_PUT)]
    return json.dumps({"StreamName": stream, "Records": records}, separators=(",", ":"))


def put_record_body(rng, stream, record_bytes):
    return json.dumps({"StreamName": stream,
                       "Data": base64.b64encode(rng.randbytes(record_bytes)).decode(),
                       "PartitionKey": f"pk-{rng.getrandbits(64):016x}"},
                      separators=(",", ":"))


def cmd_bodies(out_dir):
    rng = random.Random(20131202)
    files = {
        "put_100b.jsonl": [put_records_body(rng, STREAMS["100b"][0], 100)
                           for _ in range(BODIES_PER_FILE)],
        "put_1k.jsonl": [put_records_body(rng, STREAMS["1k"][0], 1024)
                         for _ in range(BODIES_PER_FILE)],
        "put1_100b.jsonl": [put_record_body(rng, STREAMS["100b"][0], 100)
                            for _ in range(SINGLE_BODIES)],
        "warm.jsonl": [put_records_body(rng, WARM_STREAM, 100) for _ in range(4)],
    }
    for name, bodies in files.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write("\n".join(bodies) + "\n")


def cmd_create(url, shards, names):
    c = kinesis.client(url, attempts=None, read_timeout=60)
    for name in names:
        c.create_stream(StreamName=name, ShardCount=shards)
    deadline = time.monotonic() + 30
    for name in names:
        while True:
            s = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            if s["StreamStatus"] == "ACTIVE":
                if s["OpenShardCount"] != shards:
                    die(f"{url}: stream {name} has {s['OpenShardCount']} shards, not {shards}")
                break
            if time.monotonic() > deadline:
                die(f"{url}: stream {name} still {s['StreamStatus']} after 30 s")
            time.sleep(0.05)


class Client:
    """One keep-alive connection speaking Kinesis JSON 1.1."""

    def __init__(self, url):
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.headers = {}  # per operation, made once

    def call(self, op, body):
        if op not in self.headers:
            self.headers[op] = kinesis.headers(op)
        self.conn.request("POST", "/", json.dumps(body), self.headers[op])
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            die(f"{op}: HTTP {r.status}: {data[:300]!r}")
        return json.loads(data)


def check_size(rec, record_bytes, where):
    n = len(base64.b64decode(rec["Data"]))
    if n != record_bytes:
        die(f"{where}: a record of {n} bytes in a stream of {record_bytes}-byte records")


def cmd_drain(url, stream, record_bytes):
    """Every record of STREAM, shard by shard, from TRIM_HORIZON until a
    page is empty and MillisBehindLatest is 0 (nothing is written any
    more). Prints one drain_result line."""
    c = Client(url)
    shards = c.call("ListShards", {"StreamName": stream})["Shards"]
    records = calls = 0
    t0 = time.perf_counter()
    for s in shards:
        it = c.call("GetShardIterator", {"StreamName": stream, "ShardId": s["ShardId"],
                                         "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        # Bound: far more pages than the stream can hold at one record each
        # would be a server looping on the same page.
        for _ in range(10_000_000):
            page = c.call("GetRecords", {"ShardIterator": it, "Limit": 10000})
            calls += 1
            recs = page["Records"]
            if recs:
                check_size(recs[0], record_bytes, f"{url} {stream} {s['ShardId']}")
                check_size(recs[-1], record_bytes, f"{url} {stream} {s['ShardId']}")
            records += len(recs)
            it = page.get("NextShardIterator")
            if it is None or (not recs and page.get("MillisBehindLatest", 0) == 0):
                break
        else:
            die(f"{url} {stream} {s['ShardId']}: the drain never reached the end")
    seconds = time.perf_counter() - t0
    print(f"drain_result\trecords={records}\tseconds={seconds:.6f}\tcalls={calls}"
          f"\tshards={len(shards)}")


def parse_results(path):
    """{(tag, server): {key: value}}, numbers as floats."""
    runs = {}
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3:
                continue
            kv = {"kind": cols[2]}
            for c in cols[3:]:
                k, _, v = c.partition("=")
                try:
                    kv[k] = float(v)
                except ValueError:
                    kv[k] = v
            runs[(cols[0], cols[1])] = kv
    return runs


def wrk_problems(r):
    keys = ("failed_records", "non200", "malformed", "err_connect", "err_read", "err_write",
            "err_timeout", "err_status")
    bad = [f"{k}={int(r[k])}" for k in keys if r[k] != 0]
    if r["requests"] == 0:
        bad.append("no request answered")
    if bad and r.get("first_bad"):
        bad.append(f"the first bad answer: {r['first_bad']}")
    return ["; ".join(bad)] if bad else []


def cmd_report(path, conns, put_s, lat_s, kinesalite):
    runs = parse_results(path)
    servers = ("sluice", "kinesalite")
    problems = []
    # cpu s: the server process's CPU time over the load (all its threads,
    # io_uring's workers included); rec/cpu s: records acknowledged per
    # second of it, which a busy machine changes less than records/s.
    fmt = "%-10s %-10s %9s %8s %11s %9s %9s %9s %9s %7s %10s %6s %6s %6s"
    print(fmt % ("run", "server", "requests", "seconds", "records/s", "p50 us", "p90 us",
                 "p99 us", "p99.9 us", "cpu s", "rec/cpu s", "fail", "non200", "errors"),
          file=sys.stderr)
    for (tag, srv), r in runs.items():
        if r["kind"] != "wrk_result":
            continue
        r["rps"] = r["ok_records"] / (r["duration_us"] / 1e6)
        errs = sum(int(r[k]) for k in ("err_connect", "err_read", "err_write", "err_timeout"))
        print(fmt % (tag, srv, int(r["requests"]), f"{r['duration_us'] / 1e6:.2f}",
                     f"{r['rps']:.0f}", int(r["lat_p50_us"]), int(r["lat_p90_us"]),
                     int(r["lat_p99_us"]), int(r["lat_p999_us"]), f"{r['cpu_s']:.2f}",
                     f"{r['ok_records'] / r['cpu_s']:.0f}" if r["cpu_s"] > 0 else "-",
                     int(r["failed_records"]), int(r["non200"]), errs), file=sys.stderr)
        problems += [f"{tag} on {srv}: {p}" for p in wrk_problems(r)]
    for tag in PUT_RUNS:
        for srv in servers:
            if runs.get((tag, srv), {}).get("kind") != "wrk_result":
                problems.append(f"{tag} on {srv}: no wrk result")

    # Every acknowledged record must come back. A few more may: requests
    # wrk had sent when its time was up, answered after it stopped reading
    # (at most one per connection per run).
    dfmt = "%-12s %-10s %9s %9s %9s %7s %11s %6s"
    print(dfmt % ("drain", "server", "acked", "in flight", "read", "seconds", "records/s",
                  "calls"), file=sys.stderr)
    for key, (stream, _) in STREAMS.items():
        for srv in servers:
            d = runs.get((f"drain_{key}", srv))
            if d is None or d["kind"] != "drain_result":
                problems.append(f"drain of {stream} on {srv}: no result")
                continue
            acked = slack = 0
            for tag, (k, per) in PUT_RUNS.items():
                if k == key and (tag, srv) in runs:
                    acked += runs[(tag, srv)].get("ok_records", 0)
                    slack += conns[tag] * per
            d["rps"] = d["records"] / d["seconds"] if d["seconds"] > 0 else 0
            print(dfmt % (f"drain_{key}", srv, int(acked), int(slack), int(d["records"]),
                          f"{d['seconds']:.2f}", f"{d['rps']:.0f}", int(d["calls"])),
                  file=sys.stderr)
            if d["records"] < acked:
                problems.append(f"{stream} on {srv}: {int(acked)} records acknowledged, "
                                f"only {int(d['records'])} read back")
            elif d["records"] > acked + slack:
                problems.append(f"{stream} on {srv}: {int(d['records'])} records read back, "
                                f"more than the {int(acked)} acknowledged + {slack} in flight")
    if problems:
        for p in problems:
            print(f"bench_api.py: FAILED: {p}", file=sys.stderr)
        print("bench_api.py: the run had failures; no figures", file=sys.stderr)
        sys.exit(1)

    def figure(name, value, unit, ref, ref_name, target=None):
        print(f"figure\t{name}\t{value:.1f}\t{unit}\t{ref:.1f}\t{ref_name}")
        if target is not None:
            print(f"target\t{name}\t{target:.1f}\t{ISSUE}")

    def both(tag):
        return runs[(tag, "sluice")], runs[(tag, "kinesalite")]

    for tag, label in (("put_100b", "500x100b"), ("put_1k", "500x1k")):
        s, k = both(tag)
        c = conns[tag]
        figure(f"api_putrecords_{label}_{c}conn_krps", s["rps"] / 1e3, "krecords/s",
               k["rps"] / 1e3, f"{kinesalite}, same wrk load (1 thread, {c} conns, {put_s} s)",
               TARGET_RATIO * k["rps"] / 1e3)
    s, k = both("put1_100b")
    for q in ("p50", "p99"):
        figure(f"api_putrecord_100b_closed_loop_1conn_{q}_us", s[f"lat_{q}_us"], "us",
               k[f"lat_{q}_us"], f"{kinesalite}, same wrk load (1 conn, closed loop, {lat_s} s)")
    for key in STREAMS:
        s, k = both(f"drain_{key}")
        figure(f"api_getrecords_drain_{key}_krps", s["rps"] / 1e3, "krecords/s",
               k["rps"] / 1e3, f"{kinesalite}, same Python GetRecords loop (Limit 10000)")


def main(argv):
    if len(argv) == 2 and argv[0] == "bodies":
        cmd_bodies(argv[1])
    elif len(argv) >= 4 and argv[0] == "create":
        cmd_create(argv[1], int(argv[2]), argv[3:])
    elif len(argv) == 4 and argv[0] == "drain":
        cmd_drain(argv[1], argv[2], int(argv[3]))
    elif len(argv) == 6 and argv[0] == "report":
        conns = {tag: int(argv[2]) if per > 1 else 1 for tag, (_, per) in PUT_RUNS.items()}
        cmd_report(argv[1], conns, argv[3], argv[4], argv[5])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
