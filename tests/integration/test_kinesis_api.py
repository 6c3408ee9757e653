# SPDX-License-Identifier: BSD-3-Clause
"""The Kinesis API of sluiced, end to end, with the clients people use.

Starts the built daemon ($SL_BUILD_ROOT/control/sluiced: temporary data
directory, --no-dpdk, free ports for api.listen and ingest.listen) and drives
it with boto3 (from the interpreter running this file, or the `python3` on
PATH when this one lacks boto3), the real AWS CLI (`aws --endpoint-url`),
raw HTTP/1.1 over sockets, and the `sluice` CLI. Checks:
- every operation of SPEC section 5, group 1: CreateStream (ShardCount,
  ON_DEMAND, Tags), DeleteStream, DescribeStream (+ its paginator),
  DescribeStreamSummary, ListStreams (Limit/NextToken, StreamSummaries, the
  boto3 paginator), ListShards (MaxResults/NextToken, ExclusiveStartShardId,
  every ShardFilter type, the paginator), PutRecord (routing by
  MD5(partition key) computed here with hashlib, ExplicitHashKey), PutRecords
  (per-entry results, consecutive sequence numbers per shard), GetShardIterator
  (all five types), GetRecords (Limit, NextShardIterator, MillisBehindLatest,
  ApproximateArrivalTimestamp, data byte for byte, sequence numbers strictly
  increasing and consecutive per shard), retention, both tag APIs,
  DescribeLimits, StreamARN in place of StreamName;
- each refusal by its exact exception name (ResourceNotFoundException,
  ResourceInUseException, InvalidArgumentException, ValidationException,
  LimitExceededException; a tampered iterator is refused), checked by the
  server (boto3's own parameter validation is off for those calls);
- the wire: UnknownOperationException, SerializationException,
  MissingAuthenticationTokenException, 413 for an oversize body, the
  x-amzn-RequestId / x-amzn-ErrorType headers, keep-alive and pipelining;
- a restart of the daemon in the middle of the suite keeps streams, shards,
  records (byte for byte, same sequence numbers), retention and tags;
  iterators handed out before it still read, and sequence numbers go on
  consecutively;
- the `sluice` CLI: stream create/list/describe/delete, put, get (every
  --from), tail, --json, its errors, and its SigV4 signature (recomputed here).

Each case prints `ok NAME` or `FAIL NAME` (with the reason); the last line
is `N passed, M failed`, and the exit status is 1 on any failure. Exit 77
(skip) only when boto3 or the AWS CLI is missing on this machine.
"""
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import cases  # noqa: E402
import kinesis  # noqa: E402
from cases import Skip  # noqa: E402
from checks import Failure, check, eq  # noqa: E402
from kinesis import ACCESS_KEY, REGION, SECRET_KEY  # noqa: E402
from sluiced import BUILD_ROOT, SLUICED, Sluiced, free_port  # noqa: E402
from slw1 import hash_key_of  # noqa: E402

SKIP = 77
if kinesis.boto3_or_reexec(__file__) is None:
    print(f"SKIP: boto3 is not importable by {sys.executable} nor by the python3 on PATH")
    sys.exit(SKIP)
AWS = shutil.which("aws")
if not AWS:
    print("SKIP: the AWS CLI (aws) is not on PATH")
    sys.exit(SKIP)

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

SLUICE = os.path.join(BUILD_ROOT, "tools", "sluice")
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
STATUS_TIMEOUT_S = 20  # CREATING -> ACTIVE, DELETING -> gone
HASH_MAX = (1 << 128) - 1
MIB = 1 << 20
PREFIX = f"it{os.getpid()}"

# Credentials and region for boto3 in this process and every child; no
# profile or shared file of the machine may change what is tested.
_scratch = tempfile.mkdtemp(prefix="sluice-kin-")
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_KINESIS", "SLUICE_ENDPOINT", "AWS_CA_BUNDLE"):
    os.environ.pop(var, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.path.join(_scratch, "no-config"),
    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(_scratch, "no-credentials"),
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard",
    "AWS_PAGER": "",
})


# ---- the daemon -----------------------------------------------------------

class Daemon(Sluiced):
    """sluiced on a temporary data dir; start() may be called again after
    stop() on the same data dir (new ports each time)."""

    def __init__(self):
        super().__init__(tmp_prefix="sluice-kin-", ready_timeout_s=READY_TIMEOUT_S,
                         stop_timeout_s=STOP_TIMEOUT_S)

    def start(self):
        super().start("--no-dpdk")
        self.port = self.api_port
        self.url = self.api_url
        self.wait_ready()


# ---- clients --------------------------------------------------------------

def client(port, validate=False):
    """A boto3 Kinesis client on the daemon; validate=False lets invalid
    parameters reach the server, which must refuse them itself."""
    return kinesis.client(port, validate=validate, read_timeout=60)


class Ctx:
    """What every case shares: the daemon and clients on it."""

    def __init__(self, daemon):
        self.d = daemon
        self.n = 0
        self.refresh()

    def refresh(self):
        self.k = client(self.d.port, validate=True)
        self.kr = client(self.d.port, validate=False)

    @property
    def port(self):
        return self.d.port

    @property
    def url(self):
        return self.d.url

    def name(self, what):
        self.n += 1
        return f"{PREFIX}-{what}-{self.n}"


def expect_error(name, fn, *args, **kw):
    """Call fn, which must fail with exception `name` (exactly, or one of a
    tuple) and HTTP 400; returns the message."""
    try:
        fn(*args, **kw)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        names = name if isinstance(name, tuple) else (name,)
        check(code in names, f"want {' or '.join(names)}, got {code}: {e}")
        eq(status, 400, f"HTTP status of {code}")
        return e.response.get("Error", {}).get("Message") or ""
    raise Failure(f"want {name}, but {getattr(fn, '__name__', fn)}({kw}) succeeded")


def wait_status(ctx, name, status="ACTIVE"):
    deadline = time.monotonic() + STATUS_TIMEOUT_S
    while True:
        s = ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if s["StreamStatus"] == status:
            return s
        check(time.monotonic() < deadline,
              f"{name} still {s['StreamStatus']} after {STATUS_TIMEOUT_S} s")
        time.sleep(0.05)


def wait_gone(ctx, name):
    deadline = time.monotonic() + STATUS_TIMEOUT_S
    while True:
        try:
            s = ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            eq(s["StreamStatus"], "DELETING", f"status of deleted stream {name}")
        except ClientError as e:
            eq(e.response["Error"]["Code"], "ResourceNotFoundException",
               f"describing deleted {name}")
            return
        check(time.monotonic() < deadline, f"{name} not gone after {STATUS_TIMEOUT_S} s")
        time.sleep(0.05)


def create(ctx, what, shards=1, **kw):
    name = ctx.name(what)
    ctx.k.create_stream(StreamName=name, ShardCount=shards, **kw)
    wait_status(ctx, name)
    return name


def shard_of(shards, h):
    found = [s["ShardId"] for s in shards
             if int(s["HashKeyRange"]["StartingHashKey"]) <= h
             <= int(s["HashKeyRange"]["EndingHashKey"])]
    eq(len(found), 1, f"shards holding hash {h}")
    return found[0]


def all_shards(ctx, name):
    return ctx.k.list_shards(StreamName=name)["Shards"]


def read_all(ctx, name, shard_id, itype="TRIM_HORIZON", limit=None, **kw):
    """Every record from an iterator of `itype` up to the tip; returns
    (records, responses). Stops at an empty batch with MillisBehindLatest 0."""
    it = ctx.k.get_shard_iterator(StreamName=name, ShardId=shard_id,
                                  ShardIteratorType=itype, **kw)["ShardIterator"]
    check(0 < len(it) <= 512, f"iterator length {len(it)} not in 1..512")
    records, responses = [], []
    for _ in range(10000):
        args = {"ShardIterator": it}
        if limit:
            args["Limit"] = limit
        r = ctx.k.get_records(**args)
        responses.append(r)
        if limit:
            check(len(r["Records"]) <= limit, f"{len(r['Records'])} records over Limit {limit}")
        records += r["Records"]
        check(r.get("NextShardIterator"), "open shard without NextShardIterator")
        check(isinstance(r.get("MillisBehindLatest"), int) and r["MillisBehindLatest"] >= 0,
              f"MillisBehindLatest {r.get('MillisBehindLatest')!r}")
        if not r["Records"] and r["MillisBehindLatest"] == 0:
            return records, responses
        it = r["NextShardIterator"]
    raise Failure("GetRecords never reached the tip")


def check_consecutive(seqs, what):
    for a, b in zip(seqs, seqs[1:]):
        check(int(b) == int(a) + 1, f"{what}: sequence number {b} does not follow {a}")


# ---- raw HTTP -------------------------------------------------------------

def raw_request(port, op, body, sign=True, target=None, extra=None, content_type=None,
                version="1.1", auth=None):
    """The bytes of one POST / with a real SigV4 signature (or none)."""
    headers = {
        "Content-Type": content_type or "application/x-amz-json-1.1",
        "X-Amz-Target": target or f"Kinesis_20131202.{op}",
    }
    req = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                     headers=headers)
    if sign:
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kinesis", REGION).add_auth(req)
    if auth is not None:
        req.headers["Authorization"] = auth
    lines = [f"POST / HTTP/{version}", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() != "host"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    if not any(k.lower() == "content-length" for k in (extra or {})):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawConn:
    """One TCP connection with a minimal HTTP/1.1 response reader
    (Content-Length bodies, as the server always sends)."""

    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def read_response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed_by_server(self, timeout=3):
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def raw_call(port, op, body, **kw):
    with RawConn(port) as c:
        c.send(raw_request(port, op, body, **kw))
        return c.read_response()


def check_error_response(resp, exc, status=400):
    code, headers, body = resp
    eq(code, status, f"HTTP status for {exc}")
    check(headers.get("x-amzn-requestid"), "no x-amzn-RequestId on an error")
    etype = headers.get("x-amzn-errortype", "")
    check(etype.split(":")[0] == exc, f"x-amzn-ErrorType {etype!r}, want {exc}")
    doc = json.loads(body)
    eq(doc.get("__type", "").split("#")[-1], exc, "__type")
    return doc


# ---- AWS CLI --------------------------------------------------------------

_aws_v2 = None


def aws(ctx, *args, ok=True):
    """Run `aws kinesis ARGS` on the daemon; returns (exit, parsed JSON or None, stderr)."""
    global _aws_v2
    if _aws_v2 is None:
        v = subprocess.run([AWS, "--version"], capture_output=True, text=True, check=False)
        _aws_v2 = "aws-cli/2." in (v.stdout + v.stderr)
    cmd = [AWS, "--endpoint-url", ctx.url, "--region", REGION, "--output", "json"]
    if _aws_v2:
        cmd += ["--cli-binary-format", "raw-in-base64-out"]
    r = subprocess.run(cmd + ["kinesis", *args], capture_output=True, text=True,
                       timeout=120, check=False)
    if ok and r.returncode != 0:
        raise Failure(f"aws kinesis {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    doc = json.loads(r.stdout) if r.stdout.strip() else None
    return r.returncode, doc, r.stderr


# ---- sluice CLI -----------------------------------------------------------

def sluice(ctx, *args, input=None, endpoint=True, timeout=60):
    cmd = [SLUICE] + (["--endpoint", ctx.url] if endpoint else []) + list(args)
    return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, check=False)


def sluice_ok(ctx, *args, **kw):
    r = sluice(ctx, *args, **kw)
    if r.returncode != 0:
        raise Failure(f"sluice {' '.join(args)}: exit {r.returncode}: "
                      f"{r.stderr.decode(errors='replace').strip()}")
    return r.stdout.decode()


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---- the runner -----------------------------------------------------------

case = cases.Cases()


# ---- cases: streams -------------------------------------------------------

@case
def create_stream_shard_count(ctx):
    """CreateStream splits 0..2^128-1 evenly as Kinesis does; DescribeStream
    shows every field."""
    t0 = time.time()
    name = ctx.name("create")
    ctx.k.create_stream(StreamName=name, ShardCount=3)
    wait_status(ctx, name)
    d = ctx.k.describe_stream(StreamName=name)["StreamDescription"]
    eq(d["StreamName"], name, "StreamName")
    check(re.fullmatch(rf"arn:aws:kinesis:{REGION}:\d{{12}}:stream/{re.escape(name)}",
                       d["StreamARN"]), f"StreamARN {d['StreamARN']}")
    eq(d["StreamStatus"], "ACTIVE", "StreamStatus")
    eq(d["RetentionPeriodHours"], 24, "default RetentionPeriodHours")
    eq(d["HasMoreShards"], False, "HasMoreShards")
    eq(d.get("StreamModeDetails", {}).get("StreamMode"), "PROVISIONED", "StreamMode")
    eq(d.get("EncryptionType", "NONE"), "NONE", "EncryptionType")
    created = d["StreamCreationTimestamp"].timestamp()
    check(t0 - 5 <= created <= time.time() + 5, f"StreamCreationTimestamp {created} vs {t0}")
    shards = d["Shards"]
    eq([s["ShardId"] for s in shards], [f"shardId-{i:012d}" for i in range(3)], "shard ids")
    step = (1 << 128) // 3
    for i, s in enumerate(shards):
        start = int(s["HashKeyRange"]["StartingHashKey"])
        end = int(s["HashKeyRange"]["EndingHashKey"])
        eq(start, i * step, f"StartingHashKey of shard {i}")
        eq(end, HASH_MAX if i == 2 else (i + 1) * step - 1, f"EndingHashKey of shard {i}")
        check(re.fullmatch(r"0|[1-9]\d*", s["SequenceNumberRange"]["StartingSequenceNumber"]),
              "StartingSequenceNumber is decimal")
        check("EndingSequenceNumber" not in s["SequenceNumberRange"], "open shard has an end")
        check("ParentShardId" not in s, "a new shard has no parent")
    # The paginator of DescribeStream walks shard by shard.
    pages = list(ctx.k.get_paginator("describe_stream").paginate(
        StreamName=name, PaginationConfig={"PageSize": 1}))
    eq([s["ShardId"] for p in pages for s in p["StreamDescription"]["Shards"]],
       [s["ShardId"] for s in shards], "DescribeStream paginated with Limit 1")
    check(len(pages) >= 3, f"{len(pages)} pages of Limit 1 for 3 shards")
    rest = ctx.k.describe_stream(StreamName=name, ExclusiveStartShardId="shardId-000000000000")
    eq([s["ShardId"] for s in rest["StreamDescription"]["Shards"]],
       ["shardId-000000000001", "shardId-000000000002"], "ExclusiveStartShardId")


@case
def create_stream_on_demand(ctx):
    before = ctx.k.describe_limits()
    name = ctx.name("ondemand")
    ctx.k.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    s = wait_status(ctx, name)
    eq(s["StreamModeDetails"]["StreamMode"], "ON_DEMAND", "StreamMode")
    shards = all_shards(ctx, name)
    check(len(shards) >= 1, "an on-demand stream has shards")
    eq(s["OpenShardCount"], len(shards), "OpenShardCount vs ListShards")
    after = ctx.k.describe_limits()
    eq(after["OnDemandStreamCount"], before["OnDemandStreamCount"] + 1, "OnDemandStreamCount")
    eq(after["OpenShardCount"], before["OpenShardCount"] + len(shards), "OpenShardCount")
    # Records go in and come out as on any stream.
    r = ctx.k.put_record(StreamName=name, PartitionKey="k", Data=b"on-demand")
    eq(r["ShardId"], shard_of(shards, hash_key_of("k")), "on-demand routing")


@case
def describe_stream_summary(ctx):
    name = create(ctx, "summary", shards=2)
    s = ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    for field in ("StreamName", "StreamARN", "StreamStatus", "RetentionPeriodHours",
                  "StreamCreationTimestamp", "EnhancedMonitoring", "OpenShardCount",
                  "StreamModeDetails"):
        check(field in s, f"DescribeStreamSummary lacks {field}")
    eq(s["OpenShardCount"], 2, "OpenShardCount")
    eq(s.get("ConsumerCount", 0), 0, "ConsumerCount")
    by_arn = ctx.k.describe_stream_summary(StreamARN=s["StreamARN"])["StreamDescriptionSummary"]
    eq(by_arn["StreamName"], name, "summary by StreamARN")


@case
def sluice_durability_extension(ctx):
    # The sluice extension SluiceDurability: raw CreateStream and the CLI.
    name = ctx.name("dur")
    code, _, body = raw_call(ctx.port, "CreateStream",
                             json.dumps({"StreamName": name, "ShardCount": 1,
                                         "SluiceDurability": "write"}).encode())
    eq(code, 200, f"CreateStream with SluiceDurability: {body!r}")
    code, _, body = raw_call(ctx.port, "DescribeStreamSummary", json.dumps({"StreamName": name}).encode())
    eq(json.loads(body)["StreamDescriptionSummary"].get("SluiceDurability"), "write",
       "SluiceDurability reported")
    code, _, body = raw_call(ctx.port, "DescribeStreamSummary",
                             json.dumps({"StreamName": create(ctx, "durdef")}).encode())
    eq(json.loads(body)["StreamDescriptionSummary"].get("SluiceDurability"), "fsync",
       "default durability")
    check_error_response(raw_call(ctx.port, "CreateStream",
                                  json.dumps({"StreamName": ctx.name("durbad"), "ShardCount": 1,
                                              "SluiceDurability": "sometimes"}).encode()),
                         "ValidationException")
    cli_name = ctx.name("durcli")
    sluice_ok(ctx, "stream", "create", cli_name, "--durability", "none")
    code, _, body = raw_call(ctx.port, "DescribeStreamSummary", json.dumps({"StreamName": cli_name}).encode())
    eq(json.loads(body)["StreamDescriptionSummary"].get("SluiceDurability"), "none",
       "durability from the CLI")


@case
def create_and_delete_errors(ctx):
    name = create(ctx, "dup")
    expect_error("ResourceInUseException", ctx.kr.create_stream, StreamName=name, ShardCount=1)
    expect_error("ValidationException", ctx.kr.create_stream, StreamName="bad name!",
                 ShardCount=1)
    expect_error("ValidationException", ctx.kr.create_stream, StreamName="a" * 129,
                 ShardCount=1)
    expect_error("ValidationException", ctx.kr.create_stream, StreamName="", ShardCount=1)
    expect_error("ValidationException", ctx.kr.create_stream, StreamName=ctx.name("zero"),
                 ShardCount=0)
    expect_error("ValidationException", ctx.kr.create_stream, StreamName=ctx.name("neg"),
                 ShardCount=-1)
    expect_error("ValidationException", ctx.kr.create_stream, StreamName=ctx.name("mode"),
                 StreamModeDetails={"StreamMode": "SOMETIMES"})
    expect_error("ResourceNotFoundException", ctx.kr.describe_stream, StreamName=ctx.name("nx"))
    expect_error("ResourceNotFoundException", ctx.kr.describe_stream_summary,
                 StreamName=ctx.name("nx"))
    expect_error("ResourceNotFoundException", ctx.kr.delete_stream, StreamName=ctx.name("nx"))
    # Delete, then the name is free again and the new stream is empty.
    ctx.k.put_record(StreamName=name, PartitionKey="old", Data=b"old life")
    ctx.k.delete_stream(StreamName=name)
    wait_gone(ctx, name)
    check(name not in ctx.k.list_streams(Limit=10000)["StreamNames"], "deleted stream listed")
    expect_error("ResourceNotFoundException", ctx.kr.put_record, StreamName=name,
                 PartitionKey="k", Data=b"x")
    ctx.k.create_stream(StreamName=name, ShardCount=1)
    wait_status(ctx, name)
    recs, _ = read_all(ctx, name, "shardId-000000000000")
    eq(recs, [], "records of a recreated stream")


@case
def limit_exceeded(ctx):
    lim = ctx.k.describe_limits()
    for f in ("ShardLimit", "OpenShardCount", "OnDemandStreamCount", "OnDemandStreamCountLimit"):
        check(isinstance(lim.get(f), int) and lim[f] >= 0, f"DescribeLimits {f} {lim.get(f)!r}")
    check(lim["ShardLimit"] > 0, "ShardLimit > 0")
    check(lim["OpenShardCount"] <= lim["ShardLimit"], "open shards within the limit")
    want = lim["ShardLimit"] - lim["OpenShardCount"] + 1
    if want > 100000:
        raise Skip(f"ShardLimit {lim['ShardLimit']} too large to exceed with one stream")
    name = ctx.name("toomany")
    expect_error("LimitExceededException", ctx.kr.create_stream, StreamName=name,
                 ShardCount=want)
    expect_error("ResourceNotFoundException", ctx.kr.describe_stream_summary, StreamName=name)
    eq(ctx.k.describe_limits()["OpenShardCount"], lim["OpenShardCount"],
       "OpenShardCount after a refused CreateStream")
    # DescribeLimits counts a new stream's shards.
    create(ctx, "limits", shards=2)
    eq(ctx.k.describe_limits()["OpenShardCount"], lim["OpenShardCount"] + 2,
       "OpenShardCount after creating 2 shards")


@case
def list_streams_pagination(ctx):
    names = sorted(create(ctx, f"ls{i}") for i in range(5))
    # Walk by hand with Limit 2 and NextToken.
    seen, summaries, pages = [], [], 0
    r = ctx.k.list_streams(Limit=2)
    while True:
        pages += 1
        check(len(r["StreamNames"]) <= 2, f"{len(r['StreamNames'])} names over Limit 2")
        eq([s["StreamName"] for s in r["StreamSummaries"]], r["StreamNames"],
           "StreamSummaries follow StreamNames")
        seen += r["StreamNames"]
        summaries += r["StreamSummaries"]
        if not r["HasMoreStreams"]:
            check("NextToken" not in r, "NextToken on the last page")
            break
        check(r.get("NextToken"), "HasMoreStreams without NextToken")
        check(pages < 1000, "ListStreams never ends")
        r = ctx.k.list_streams(Limit=2, NextToken=r["NextToken"])
    eq(seen, sorted(seen), "ListStreams order")
    eq(len(seen), len(set(seen)), "ListStreams repeats a name")
    for n in names:
        check(n in seen, f"{n} not listed")
    for s in summaries:
        if s["StreamName"] in names:
            eq(s["StreamStatus"], "ACTIVE", "summary StreamStatus")
            check(s["StreamARN"].endswith(f":stream/{s['StreamName']}"), "summary StreamARN")
            eq(s["StreamModeDetails"]["StreamMode"], "PROVISIONED", "summary StreamMode")
            check(isinstance(s["StreamCreationTimestamp"], datetime.datetime),
                  "summary StreamCreationTimestamp")
    # The boto3 paginator, pages of 2.
    pag = ctx.k.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2})
    eq([n for p in pag for n in p["StreamNames"]], seen, "list_streams paginator")
    # ExclusiveStartStreamName.
    after = ctx.k.list_streams(ExclusiveStartStreamName=names[1], Limit=10000)["StreamNames"]
    eq(after, [n for n in seen if n > names[1]], "ExclusiveStartStreamName")
    expect_error("ValidationException", ctx.kr.list_streams, Limit=0)
    expect_error(("InvalidArgumentException", "ExpiredNextTokenException"),
                 ctx.kr.list_streams, NextToken="bm90IGEgdG9rZW4=")


@case
def list_shards(ctx):
    name = create(ctx, "shards", shards=5)
    ids = [f"shardId-{i:012d}" for i in range(5)]
    first = ctx.k.list_shards(StreamName=name)
    eq([s["ShardId"] for s in first["Shards"]], ids, "ListShards")
    check("NextToken" not in first, "NextToken with every shard returned")
    # MaxResults and NextToken (alone: it names the stream).
    got, tok = [], None
    for _ in range(10):
        r = (ctx.k.list_shards(NextToken=tok, MaxResults=2) if tok
             else ctx.k.list_shards(StreamName=name, MaxResults=2))
        check(len(r["Shards"]) <= 2, "MaxResults 2")
        got += [s["ShardId"] for s in r["Shards"]]
        tok = r.get("NextToken")
        if not tok:
            break
    eq(got, ids, "ListShards pages of 2")
    # The boto3 paginator, carrying on from a first page's token; Kinesis
    # refuses StreamName together with NextToken, so it starts from the token.
    r = ctx.k.list_shards(StreamName=name, MaxResults=1)
    pag = ctx.k.get_paginator("list_shards").paginate(
        PaginationConfig={"StartingToken": r["NextToken"], "PageSize": 2})
    eq([s["ShardId"] for s in r["Shards"]] + [s["ShardId"] for p in pag for s in p["Shards"]],
       ids, "list_shards paginator")
    m = expect_error("InvalidArgumentException", ctx.kr.list_shards, StreamName=name,
                     NextToken=r["NextToken"])
    check("NextToken" in m, f"message {m!r}")
    expect_error("InvalidArgumentException", ctx.kr.list_shards)
    expect_error("ValidationException", ctx.kr.list_shards, StreamName=name, MaxResults=0)
    expect_error("ResourceNotFoundException", ctx.kr.list_shards, StreamName=ctx.name("nx"))
    # ExclusiveStartShardId and the filters.
    r = ctx.k.list_shards(StreamName=name, ExclusiveStartShardId=ids[1])
    eq([s["ShardId"] for s in r["Shards"]], ids[2:], "ExclusiveStartShardId")
    r = ctx.k.list_shards(StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID",
                                                         "ShardId": ids[2]})
    eq([s["ShardId"] for s in r["Shards"]], ids[3:], "AFTER_SHARD_ID")
    now = datetime.datetime.now(datetime.timezone.utc)
    for f in ({"Type": "AT_TRIM_HORIZON"}, {"Type": "FROM_TRIM_HORIZON"}, {"Type": "AT_LATEST"},
              {"Type": "AT_TIMESTAMP", "Timestamp": now},
              {"Type": "FROM_TIMESTAMP", "Timestamp": now}):
        r = ctx.k.list_shards(StreamName=name, ShardFilter=f)
        eq([s["ShardId"] for s in r["Shards"]], ids, f"ShardFilter {f['Type']}")
    expect_error("InvalidArgumentException", ctx.kr.list_shards, StreamName=name,
                 ShardFilter={"Type": "AFTER_SHARD_ID"})
    expect_error("InvalidArgumentException", ctx.kr.list_shards, StreamName=name,
                 ShardFilter={"Type": "AT_TIMESTAMP"})
    expect_error("ValidationException", ctx.kr.list_shards, StreamName=name,
                 ShardFilter={"Type": "SIDEWAYS"})
    # The StreamARN names the stream as well.
    arn = ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    eq([s["ShardId"] for s in ctx.k.list_shards(StreamARN=arn)["Shards"]], ids,
       "ListShards by StreamARN")


# ---- cases: writing -------------------------------------------------------

@case
def put_record_routing(ctx):
    name = create(ctx, "route", shards=4)
    shards = all_shards(ctx, name)
    keys = [f"key-{i}" for i in range(40)] + ["ü-ñ-ключ", "x" * 256, "a"]
    used = set()
    for key in keys:
        r = ctx.k.put_record(StreamName=name, PartitionKey=key, Data=key.encode())
        eq(r["ShardId"], shard_of(shards, hash_key_of(key)), f"shard of key {key!r}")
        check(re.fullmatch(r"[1-9]\d*", r["SequenceNumber"]), "decimal SequenceNumber")
        used.add(r["ShardId"])
    eq(len(used), 4, "40 keys over 4 shards use every shard")
    # ExplicitHashKey wins over the partition key, at both ends of each range.
    for s in shards:
        for h in (s["HashKeyRange"]["StartingHashKey"], s["HashKeyRange"]["EndingHashKey"]):
            r = ctx.k.put_record(StreamName=name, PartitionKey="ignored", Data=b"e",
                                 ExplicitHashKey=h)
            eq(r["ShardId"], s["ShardId"], f"ExplicitHashKey {h}")


@case
def put_record_validation(ctx):
    name = create(ctx, "putval")
    expect_error("ValidationException", ctx.kr.put_record, StreamName=name, PartitionKey="",
                 Data=b"x")
    expect_error("ValidationException", ctx.kr.put_record, StreamName=name,
                 PartitionKey="k" * 257, Data=b"x")
    expect_error("ValidationException", ctx.kr.put_record, StreamName=name, PartitionKey="k",
                 Data=b"x", ExplicitHashKey="12ab")
    expect_error("InvalidArgumentException", ctx.kr.put_record, StreamName=name,
                 PartitionKey="k", Data=b"x", ExplicitHashKey=str(1 << 128))
    expect_error("ValidationException", ctx.kr.put_record, StreamName=name, PartitionKey="k",
                 Data=b"\0" * (MIB + 1))
    expect_error("ResourceNotFoundException", ctx.kr.put_record, StreamName=ctx.name("nx"),
                 PartitionKey="k", Data=b"x")
    expect_error("ValidationException", ctx.kr.put_record, StreamName="bad name!",
                 PartitionKey="k", Data=b"x")
    # The record size limit (1 MiB) covers the partition key and the data.
    expect_error("InvalidArgumentException", ctx.kr.put_record, StreamName=name,
                 PartitionKey="kk", Data=b"\0" * (MIB - 1))
    # The largest record goes in and comes back whole.
    big = os.urandom(MIB - 2)
    r = ctx.k.put_record(StreamName=name, PartitionKey="kk", Data=big)
    recs, _ = read_all(ctx, name, r["ShardId"])
    eq(len(recs), 1, "records after one 1 MiB PutRecord (the refused ones stored nothing)")
    check(recs[0]["Data"] == big, "1 MiB record read back differs")


@case
def put_records_batch(ctx):
    name = create(ctx, "batch", shards=4)
    shards = all_shards(ctx, name)
    entries = [{"PartitionKey": f"pk{i % 37}", "Data": os.urandom(i % 300) + bytes([i % 256])}
               for i in range(100)]
    entries[7]["ExplicitHashKey"] = "0"
    entries[8]["ExplicitHashKey"] = str(HASH_MAX)
    r = ctx.k.put_records(StreamName=name, Records=entries)
    eq(r["FailedRecordCount"], 0, "FailedRecordCount")
    eq(len(r["Records"]), 100, "one result per entry")
    by_shard = {}
    for e, res in zip(entries, r["Records"]):
        check("ErrorCode" not in res, f"entry failed: {res}")
        h = int(e["ExplicitHashKey"]) if "ExplicitHashKey" in e else hash_key_of(e["PartitionKey"])
        eq(res["ShardId"], shard_of(shards, h), "PutRecords routing")
        by_shard.setdefault(res["ShardId"], []).append((res["SequenceNumber"], e))
    eq(len({x["SequenceNumber"] for x in r["Records"]}), 100, "sequence numbers are unique")
    for sid, items in by_shard.items():
        # One request's records for one shard: contiguous, in request order.
        check_consecutive([s for s, _ in items], f"PutRecords on {sid}")
        recs, _ = read_all(ctx, name, sid)
        eq([x["SequenceNumber"] for x in recs], [s for s, _ in items], f"read back {sid}")
        for rec, (_, e) in zip(recs, items):
            check(rec["Data"] == e["Data"], f"data of {rec['SequenceNumber']}")
            eq(rec["PartitionKey"], e["PartitionKey"], "PartitionKey")


@case
def put_records_limits(ctx):
    name = create(ctx, "batchlim")
    one = {"PartitionKey": "k", "Data": b"x"}
    expect_error("ValidationException", ctx.kr.put_records, StreamName=name, Records=[one] * 501)
    expect_error("ValidationException", ctx.kr.put_records, StreamName=name, Records=[])
    expect_error("ValidationException", ctx.kr.put_records, StreamName=name,
                 Records=[one, {"PartitionKey": "", "Data": b"x"}])
    expect_error("ValidationException", ctx.kr.put_records, StreamName=name,
                 Records=[one, {"PartitionKey": "k", "Data": b"x" * (MIB + 1)}])
    expect_error("InvalidArgumentException", ctx.kr.put_records, StreamName=name,
                 Records=[one, {"PartitionKey": "k", "Data": b"x",
                                "ExplicitHashKey": str(1 << 128)}])
    expect_error("ResourceNotFoundException", ctx.kr.put_records, StreamName=ctx.name("nx"),
                 Records=[one])
    # More than 5 MiB in one request, each record under 1 MiB.
    expect_error("InvalidArgumentException", ctx.kr.put_records, StreamName=name,
                 Records=[{"PartitionKey": "k", "Data": b"y" * (900 << 10)}] * 6)
    recs, _ = read_all(ctx, name, "shardId-000000000000")
    eq(recs, [], "refused PutRecords stored nothing")
    r = ctx.k.put_records(StreamName=name, Records=[one] * 500)
    eq(r["FailedRecordCount"], 0, "500 entries")
    check_consecutive([x["SequenceNumber"] for x in r["Records"]], "500 entries, one shard")


# ---- cases: reading -------------------------------------------------------

@case
def get_records_basic(ctx):
    name = create(ctx, "get")
    payloads = [bytes(range(256)), b"\0\0\0", "ünïcødé".encode(), os.urandom(5000)]
    payloads += [f"record {i}".encode() for i in range(20)]
    t0 = time.time()
    seqs = [ctx.k.put_record(StreamName=name, PartitionKey=f"p{i}", Data=p)["SequenceNumber"]
            for i, p in enumerate(payloads)]
    t1 = time.time()
    check_consecutive(seqs, "PutRecord on one shard")
    recs, resps = read_all(ctx, name, "shardId-000000000000", limit=7)
    eq([r["SequenceNumber"] for r in recs], seqs, "sequence numbers read back")
    for i, (r, p) in enumerate(zip(recs, payloads)):
        check(r["Data"] == p, f"data of record {i} differs")
        eq(r["PartitionKey"], f"p{i}", "PartitionKey")
        ts = r["ApproximateArrivalTimestamp"].timestamp()
        check(t0 - 2 <= ts <= t1 + 2, f"ApproximateArrivalTimestamp {ts} not in [{t0}, {t1}]")
    arrivals = [r["ApproximateArrivalTimestamp"] for r in recs]
    eq(arrivals, sorted(arrivals), "arrival times in sequence order")
    check(len([x for x in resps if x["Records"]]) >= 4, "Limit 7 gave 4 batches for 24 records")
    eq(resps[-1]["MillisBehindLatest"], 0, "MillisBehindLatest at the tip")
    # Nothing new: an empty batch and an iterator to go on with.
    last = resps[-1]["NextShardIterator"]
    r = ctx.k.get_records(ShardIterator=last)
    eq(r["Records"], [], "records past the tip")
    # A new record appears on the old iterator.
    s = ctx.k.put_record(StreamName=name, PartitionKey="late", Data=b"late")["SequenceNumber"]
    eq(int(s), int(seqs[-1]) + 1, "sequence number after a read")
    r = ctx.k.get_records(ShardIterator=r["NextShardIterator"])
    eq([x["SequenceNumber"] for x in r["Records"]], [s], "record put after reaching the tip")
    # The AWS CLI reads the same bytes.
    it = aws(ctx, "get-shard-iterator", "--stream-name", name, "--shard-id",
             "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON")[1]["ShardIterator"]
    doc = aws(ctx, "get-records", "--shard-iterator", it, "--limit", "3")[1]
    eq([base64.b64decode(x["Data"]) for x in doc["Records"]], payloads[:3], "aws get-records")
    check("MillisBehindLatest" in doc and doc.get("NextShardIterator"), "aws get-records fields")


@case
def millis_behind_latest(ctx):
    name = create(ctx, "behind")
    ctx.k.put_records(StreamName=name, Records=[{"PartitionKey": "a", "Data": b"1"}] * 3)
    time.sleep(0.5)
    ctx.k.put_records(StreamName=name, Records=[{"PartitionKey": "a", "Data": b"2"}] * 3)
    it = ctx.k.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    r = ctx.k.get_records(ShardIterator=it, Limit=1)
    eq(len(r["Records"]), 1, "Limit 1")
    check(r["MillisBehindLatest"] > 0, f"MillisBehindLatest {r['MillisBehindLatest']} while "
          "the newest record arrived 0.5 s after the one returned")
    r = ctx.k.get_records(ShardIterator=r["NextShardIterator"], Limit=10000)
    eq(len(r["Records"]), 5, "the rest")
    eq(r["MillisBehindLatest"], 0, "caught up")


def raw_iterator(ctx, name, shard_id, timestamp):
    """An AT_TIMESTAMP iterator with a fractional Timestamp (boto3 sends whole
    seconds; Kinesis takes milliseconds), over raw HTTP."""
    body = json.dumps({"StreamName": name, "ShardId": shard_id,
                       "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": timestamp}).encode()
    code, _, out = raw_call(ctx.port, "GetShardIterator", body)
    eq(code, 200, f"GetShardIterator AT_TIMESTAMP {timestamp}: {out[:200]!r}")
    return json.loads(out)["ShardIterator"]


@case
def shard_iterator_types(ctx):
    name = create(ctx, "itypes")
    sid = "shardId-000000000000"
    a = ctx.k.put_records(StreamName=name, Records=[{"PartitionKey": "k", "Data": b"A%d" % i}
                                                    for i in range(5)])["Records"]
    # B arrives in a later whole second than A: boto3 sends AT_TIMESTAMP's
    # Timestamp in whole seconds.
    time.sleep(1.05 - time.time() % 1)
    b = ctx.k.put_records(StreamName=name, Records=[{"PartitionKey": "k", "Data": b"B%d" % i}
                                                    for i in range(5)])["Records"]
    seqs = [x["SequenceNumber"] for x in a + b]
    allrecs, _ = read_all(ctx, name, sid)
    eq([r["SequenceNumber"] for r in allrecs], seqs, "TRIM_HORIZON")
    recs, _ = read_all(ctx, name, sid, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[3])
    eq([r["SequenceNumber"] for r in recs], seqs[3:], "AT_SEQUENCE_NUMBER")
    recs, _ = read_all(ctx, name, sid, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[3])
    eq([r["SequenceNumber"] for r in recs], seqs[4:], "AFTER_SEQUENCE_NUMBER")
    recs, _ = read_all(ctx, name, sid, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[-1])
    eq(recs, [], "AFTER_SEQUENCE_NUMBER of the last record")
    # AT_TIMESTAMP: B's arrival second gives exactly B.
    ta, tb = allrecs[4]["ApproximateArrivalTimestamp"], allrecs[5]["ApproximateArrivalTimestamp"]
    second = tb.replace(microsecond=0)
    check(ta < second <= tb, f"A at {ta}, B at {tb}: not in different seconds")
    recs, _ = read_all(ctx, name, sid, "AT_TIMESTAMP", Timestamp=second)
    eq([r["SequenceNumber"] for r in recs], seqs[5:], "AT_TIMESTAMP at B's second")
    old = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    recs, _ = read_all(ctx, name, sid, "AT_TIMESTAMP", Timestamp=old)
    eq([r["SequenceNumber"] for r in recs], seqs, "AT_TIMESTAMP before everything")
    # Millisecond precision: at B's arrival, B; one millisecond later, nothing.
    it = raw_iterator(ctx, name, sid, round(tb.timestamp(), 3))
    eq([r["SequenceNumber"] for r in ctx.k.get_records(ShardIterator=it)["Records"]], seqs[5:],
       "AT_TIMESTAMP at B's arrival, in ms")
    it = raw_iterator(ctx, name, sid, round(tb.timestamp() + 0.001, 3))
    eq(ctx.k.get_records(ShardIterator=it)["Records"], [], "AT_TIMESTAMP 1 ms after B")
    # Kinesis refuses a Timestamp in the future.
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    expect_error("InvalidArgumentException", ctx.kr.get_shard_iterator, StreamName=name,
                 ShardId=sid, ShardIteratorType="AT_TIMESTAMP", Timestamp=future)
    # LATEST: nothing old, then exactly what comes after.
    it = ctx.k.get_shard_iterator(StreamName=name, ShardId=sid,
                                  ShardIteratorType="LATEST")["ShardIterator"]
    r = ctx.k.get_records(ShardIterator=it)
    eq(r["Records"], [], "LATEST before new records")
    new = ctx.k.put_record(StreamName=name, PartitionKey="k", Data=b"C")["SequenceNumber"]
    r = ctx.k.get_records(ShardIterator=r["NextShardIterator"])
    eq([x["SequenceNumber"] for x in r["Records"]], [new], "LATEST after a new record")
    eq(r["Records"][0]["Data"], b"C", "LATEST data")


@case
def shard_iterator_errors(ctx):
    name = create(ctx, "iterr", shards=2)
    s0 = ctx.k.put_record(StreamName=name, PartitionKey="k", Data=b"x",
                          ExplicitHashKey="0")["SequenceNumber"]
    sid0, sid1 = "shardId-000000000000", "shardId-000000000001"
    gsi = ctx.kr.get_shard_iterator
    expect_error("ResourceNotFoundException", gsi, StreamName=name,
                 ShardId="shardId-000000000099", ShardIteratorType="TRIM_HORIZON")
    expect_error("ResourceNotFoundException", gsi, StreamName=ctx.name("nx"), ShardId=sid0,
                 ShardIteratorType="TRIM_HORIZON")
    expect_error("ValidationException", gsi, StreamName=name, ShardId=sid0,
                 ShardIteratorType="SOMEWHERE")
    expect_error("InvalidArgumentException", gsi, StreamName=name, ShardId=sid0,
                 ShardIteratorType="AT_SEQUENCE_NUMBER")
    expect_error("InvalidArgumentException", gsi, StreamName=name, ShardId=sid0,
                 ShardIteratorType="AFTER_SEQUENCE_NUMBER")
    expect_error("InvalidArgumentException", gsi, StreamName=name, ShardId=sid0,
                 ShardIteratorType="AT_TIMESTAMP")
    expect_error("ValidationException", gsi, StreamName=name, ShardId=sid0,
                 ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber="12ab")
    # A sequence number of shard 0 used on shard 1.
    expect_error("InvalidArgumentException", gsi, StreamName=name, ShardId=sid1,
                 ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=s0)


@case
def get_records_errors(ctx):
    name = create(ctx, "recerr")
    ctx.k.put_record(StreamName=name, PartitionKey="k", Data=b"x")
    it = ctx.k.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    # Tampered: one character changed in the middle, or cut short.
    mid = len(it) // 2
    flipped = it[:mid] + ("A" if it[mid] != "A" else "B") + it[mid + 1:]
    for bad in (flipped, it[:-4], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not an iterator!"):
        expect_error(("InvalidArgumentException", "ExpiredIteratorException"),
                     ctx.kr.get_records, ShardIterator=bad)
    expect_error("InvalidArgumentException", ctx.kr.get_records, ShardIterator=flipped)
    expect_error("ValidationException", ctx.kr.get_records, ShardIterator="x" * 513)
    expect_error("ValidationException", ctx.kr.get_records, ShardIterator=it, Limit=0)
    # The untampered iterator still works.
    eq(len(ctx.k.get_records(ShardIterator=it)["Records"]), 1, "the good iterator")
    # An iterator of a stream deleted since.
    ctx.k.delete_stream(StreamName=name)
    wait_gone(ctx, name)
    expect_error("ResourceNotFoundException", ctx.kr.get_records, ShardIterator=it)


# ---- cases: retention, tags, ARNs -----------------------------------------

@case
def retention(ctx):
    name = create(ctx, "ret")
    arn = ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]

    def hours():
        return ctx.k.describe_stream_summary(
            StreamName=name)["StreamDescriptionSummary"]["RetentionPeriodHours"]

    eq(hours(), 24, "default retention")
    ctx.k.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    eq(hours(), 48, "after increase to 48")
    inc, dec = ctx.kr.increase_stream_retention_period, ctx.kr.decrease_stream_retention_period
    m = expect_error("InvalidArgumentException", inc, StreamName=name, RetentionPeriodHours=36)
    check("48" in m and "36" in m, f"message {m!r} names both periods")
    expect_error("InvalidArgumentException", inc, StreamName=name, RetentionPeriodHours=8761)
    expect_error("InvalidArgumentException", dec, StreamName=name, RetentionPeriodHours=60)
    expect_error("InvalidArgumentException", dec, StreamName=name, RetentionPeriodHours=23)
    expect_error("ResourceNotFoundException", inc, StreamName=ctx.name("nx"),
                 RetentionPeriodHours=48)
    expect_error("ResourceNotFoundException", dec, StreamName=ctx.name("nx"),
                 RetentionPeriodHours=24)
    eq(hours(), 48, "refusals changed nothing")
    ctx.k.decrease_stream_retention_period(StreamARN=arn, RetentionPeriodHours=24)
    eq(hours(), 24, "after decrease to 24 by StreamARN")
    ctx.k.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=8760)
    eq(hours(), 8760, "the maximum")
    rc, _, _ = aws(ctx, "decrease-stream-retention-period", "--stream-name", name,
                   "--retention-period-hours", "100")
    eq(hours(), 100, "after aws decrease-stream-retention-period")


@case
def tags_on_stream(ctx):
    name = ctx.name("tags")
    ctx.k.create_stream(StreamName=name, ShardCount=1, Tags={"born": "with"})
    wait_status(ctx, name)

    def tags(**kw):
        r = ctx.k.list_tags_for_stream(StreamName=name, **kw)
        return {t["Key"]: t.get("Value", "") for t in r["Tags"]}, r["HasMoreTags"]

    eq(tags(), ({"born": "with"}, False), "tags given at CreateStream")
    ctx.k.add_tags_to_stream(StreamName=name, Tags={"a": "1", "b": "2", "c": ""})
    eq(tags()[0], {"born": "with", "a": "1", "b": "2", "c": ""}, "after AddTagsToStream")
    ctx.k.add_tags_to_stream(StreamName=name, Tags={"a": "9"})
    eq(tags()[0]["a"], "9", "AddTagsToStream overwrites")
    ctx.k.remove_tags_from_stream(StreamName=name, TagKeys=["b", "nonexistent"])
    eq(tags()[0], {"born": "with", "a": "9", "c": ""}, "after RemoveTagsFromStream")
    # Limit and ExclusiveStartTagKey page through in key order.
    page, more = tags(Limit=1)
    eq((list(page), more), (["a"], True), "first tag page")
    page, more = tags(Limit=1, ExclusiveStartTagKey="a")
    eq((list(page), more), (["born"], True), "second tag page")
    page, more = tags(Limit=5, ExclusiveStartTagKey="born")
    eq((list(page), more), (["c"], False), "last tag page")
    # Bounds: at most 50 tags on a stream; key 1..128, value 0..256 characters.
    many = {f"t{i:02d}": str(i) for i in range(48)}  # 3 + 48 > 50
    expect_error(("InvalidArgumentException", "LimitExceededException"),
                 ctx.kr.add_tags_to_stream, StreamName=name, Tags=many)
    eq(len(tags()[0]), 3, "a refused AddTagsToStream added nothing")
    expect_error("ValidationException", ctx.kr.add_tags_to_stream, StreamName=name,
                 Tags={"k" * 129: "v"})
    expect_error("ValidationException", ctx.kr.add_tags_to_stream, StreamName=name,
                 Tags={"k": "v" * 257})
    expect_error("ValidationException", ctx.kr.add_tags_to_stream, StreamName=name, Tags={})
    expect_error("ResourceNotFoundException", ctx.kr.add_tags_to_stream,
                 StreamName=ctx.name("nx"), Tags={"a": "b"})
    expect_error("ResourceNotFoundException", ctx.kr.list_tags_for_stream,
                 StreamName=ctx.name("nx"))
    expect_error("ResourceNotFoundException", ctx.kr.remove_tags_from_stream,
                 StreamName=ctx.name("nx"), TagKeys=["a"])
    # The AWS CLI sees and changes the same tags.
    aws(ctx, "add-tags-to-stream", "--stream-name", name, "--tags", "cli=yes")
    doc = aws(ctx, "list-tags-for-stream", "--stream-name", name)[1]
    eq({t["Key"]: t.get("Value", "") for t in doc["Tags"]},
       {"born": "with", "a": "9", "c": "", "cli": "yes"}, "aws list-tags-for-stream")


@case
def tags_on_resource(ctx):
    name = create(ctx, "rtags")
    arn = ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    ctx.k.tag_resource(ResourceARN=arn, Tags={"team": "ingest", "env": "test"})
    got = {t["Key"]: t["Value"] for t in ctx.k.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    eq(got, {"team": "ingest", "env": "test"}, "ListTagsForResource")
    got = {t["Key"]: t["Value"] for t in ctx.k.list_tags_for_stream(StreamARN=arn)["Tags"]}
    eq(got, {"team": "ingest", "env": "test"}, "the same tags through ListTagsForStream")
    ctx.k.untag_resource(ResourceARN=arn, TagKeys=["env"])
    got = {t["Key"]: t["Value"] for t in ctx.k.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    eq(got, {"team": "ingest"}, "after UntagResource")
    other = arn.rsplit("/", 1)[0] + "/" + ctx.name("nx")
    expect_error("ResourceNotFoundException", ctx.kr.tag_resource, ResourceARN=other,
                 Tags={"a": "b"})
    expect_error("ResourceNotFoundException", ctx.kr.list_tags_for_resource, ResourceARN=other)
    expect_error(("ValidationException", "InvalidArgumentException"),
                 ctx.kr.list_tags_for_resource, ResourceARN="not-an-arn")


@case
def stream_arn_everywhere(ctx):
    name = create(ctx, "arn", shards=2)
    arn = ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    eq(ctx.k.describe_stream(StreamARN=arn)["StreamDescription"]["StreamName"], name,
       "DescribeStream by ARN")
    r = ctx.k.put_record(StreamARN=arn, PartitionKey="k", Data=b"by arn")
    rs = ctx.k.put_records(StreamARN=arn, Records=[{"PartitionKey": "k", "Data": b"2"}])
    eq(rs["FailedRecordCount"], 0, "PutRecords by ARN")
    it = ctx.k.get_shard_iterator(StreamARN=arn, ShardId=r["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = ctx.k.get_records(ShardIterator=it, StreamARN=arn)["Records"]
    eq([x["Data"] for x in recs], [b"by arn", b"2"], "GetRecords by ARN")
    ctx.k.add_tags_to_stream(StreamARN=arn, Tags={"x": "y"})
    eq(ctx.k.list_tags_for_stream(StreamARN=arn)["Tags"], [{"Key": "x", "Value": "y"}],
       "tags by ARN")
    nx = arn.rsplit("/", 1)[0] + "/" + ctx.name("nx")
    expect_error("ResourceNotFoundException", ctx.kr.describe_stream_summary, StreamARN=nx)
    expect_error("ResourceNotFoundException", ctx.kr.put_record, StreamARN=nx,
                 PartitionKey="k", Data=b"x")
    expect_error("ValidationException", ctx.kr.describe_stream_summary, StreamARN="arn:nope")
    expect_error(("ValidationException", "InvalidArgumentException"),
                 ctx.kr.describe_stream_summary)
    ctx.k.delete_stream(StreamARN=arn)
    wait_gone(ctx, name)


@case
def aws_cli_round_trip(ctx):
    name = ctx.name("awscli")
    aws(ctx, "create-stream", "--stream-name", name, "--shard-count", "2")
    wait_status(ctx, name)
    s = aws(ctx, "describe-stream-summary", "--stream-name", name)[1]
    eq(s["StreamDescriptionSummary"]["OpenShardCount"], 2, "aws describe-stream-summary")
    names = aws(ctx, "list-streams")[1]["StreamNames"]
    check(name in names, "aws list-streams")
    shards = aws(ctx, "list-shards", "--stream-name", name)[1]["Shards"]
    eq(len(shards), 2, "aws list-shards")
    r = aws(ctx, "put-record", "--stream-name", name, "--partition-key", "cli-key",
            "--data", "hello from the aws cli")[1]
    eq(r["ShardId"], shard_of(shards, hash_key_of("cli-key")), "aws put-record routing")
    recs, _ = read_all(ctx, name, r["ShardId"])
    eq([x["Data"] for x in recs], [b"hello from the aws cli"], "aws put-record data")
    lim = aws(ctx, "describe-limits")[1]
    check(lim["ShardLimit"] >= lim["OpenShardCount"] >= 2, "aws describe-limits")
    rc, _, err = aws(ctx, "describe-stream", "--stream-name", ctx.name("nx"), ok=False)
    check(rc != 0, "aws describe-stream of a missing stream succeeded")
    check("ResourceNotFoundException" in err, f"aws error text: {err.strip()}")
    aws(ctx, "delete-stream", "--stream-name", name)
    wait_gone(ctx, name)


# ---- cases: the wire ------------------------------------------------------

@case
def http_headers_and_wire_errors(ctx):
    code, headers, body = raw_call(ctx.port, "ListStreams", b"{}")
    eq(code, 200, "ListStreams status")
    check(headers.get("x-amzn-requestid"), "x-amzn-RequestId on a success")
    check(headers.get("content-type", "").startswith("application/x-amz-json-1.1"),
          f"Content-Type {headers.get('content-type')!r}")
    check("StreamNames" in json.loads(body), "ListStreams body")
    ids = {raw_call(ctx.port, "ListStreams", b"{}")[1]["x-amzn-requestid"] for _ in range(3)}
    eq(len(ids), 3, "request ids are unique")
    check_error_response(raw_call(ctx.port, None, b"{}", target="Kinesis_20131202.NoSuchThing"),
                         "UnknownOperationException")
    check_error_response(raw_call(ctx.port, None, b"{}", target="DynamoDB_20120810.ListTables"),
                         "UnknownOperationException")
    check_error_response(raw_call(ctx.port, "ListStreams", b'{"Limit": 1'),
                         "SerializationException")
    check_error_response(raw_call(ctx.port, "ListStreams", b"[1, 2]"), "SerializationException")
    check_error_response(raw_call(ctx.port, "ListStreams", b'{"Limit": "ten"}'),
                         "SerializationException")
    check_error_response(raw_call(ctx.port, "ListStreams", b"\xff\xfe{}"),
                         "SerializationException")
    doc = check_error_response(raw_call(ctx.port, "ListStreams", b"{}", sign=False),
                               "MissingAuthenticationTokenException")
    check(doc.get("message"), "MissingAuthenticationTokenException has a message")
    # Each error above left the server serving.
    eq(raw_call(ctx.port, "DescribeLimits", b"{}")[0], 200, "DescribeLimits after errors")


@case
def oversize_body(ctx):
    with RawConn(ctx.port) as c:
        head = raw_request(ctx.port, "PutRecords", b"", extra={"Content-Length": str(64 * MIB)})
        c.send(head)
        code, headers, _ = c.read_response()
        eq(code, 413, "status for a 64 MiB body announced")
    eq(raw_call(ctx.port, "DescribeLimits", b"{}")[0], 200, "server still serving")


@case
def keep_alive_and_pipelining(ctx):
    names = [create(ctx, f"pipe{i}") for i in range(3)]
    with RawConn(ctx.port) as c:
        # Keep-alive: several requests one after the other on one connection.
        for n in names:
            c.send(raw_request(ctx.port, "DescribeStreamSummary",
                               json.dumps({"StreamName": n}).encode()))
            code, headers, body = c.read_response()
            eq(code, 200, "keep-alive status")
            check(headers.get("connection", "").lower() != "close", "server closed keep-alive")
            eq(json.loads(body)["StreamDescriptionSummary"]["StreamName"], n, "keep-alive body")
        # Pipelining: all requests in one write, an error among them; the
        # answers come back in request order.
        order = [names[2], ctx.name("nx"), names[0], names[1], names[0]]
        c.send(b"".join(raw_request(ctx.port, "DescribeStreamSummary",
                                    json.dumps({"StreamName": n}).encode()) for n in order))
        for n in order:
            code, headers, body = c.read_response()
            doc = json.loads(body)
            if n in names:
                eq(code, 200, f"pipelined status for {n}")
                eq(doc["StreamDescriptionSummary"]["StreamName"], n, "pipelined order")
            else:
                eq(code, 400, "pipelined error status")
                eq(doc["__type"].split("#")[-1], "ResourceNotFoundException", "pipelined error")
        # Pipelined writes to one shard are stored in request order.
        puts = [json.dumps({"StreamName": names[0], "PartitionKey": "k",
                            "Data": base64.b64encode(b"p%d" % i).decode()}).encode()
                for i in range(8)]
        c.send(b"".join(raw_request(ctx.port, "PutRecord", p) for p in puts))
        seqs = []
        for _ in puts:
            code, _, body = c.read_response()
            eq(code, 200, "pipelined PutRecord")
            seqs.append(json.loads(body)["SequenceNumber"])
        check_consecutive(seqs, "pipelined PutRecord")
    # Connection: close and HTTP/1.0 end the connection after the response.
    with RawConn(ctx.port) as c:
        c.send(raw_request(ctx.port, "ListStreams", b"{}", extra={"Connection": "close"}))
        eq(c.read_response()[0], 200, "Connection: close status")
        check(c.closed_by_server(), "connection left open after Connection: close")
    with RawConn(ctx.port) as c:
        c.send(raw_request(ctx.port, "ListStreams", b"{}", version="1.0"))
        eq(c.read_response()[0], 200, "HTTP/1.0 status")
        check(c.closed_by_server(), "HTTP/1.0 connection left open")


# ---- cases: restart -------------------------------------------------------

def snapshot(ctx):
    """Streams, shards, retention, tags and every record, for comparison."""
    out = {}
    for name in ctx.k.list_streams(Limit=10000)["StreamNames"]:
        s = ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if s["StreamStatus"] != "ACTIVE":
            continue
        shards = all_shards(ctx, name)
        tags = ctx.k.list_tags_for_stream(StreamName=name, Limit=50)["Tags"]
        recs = {}
        for sh in shards:
            got, _ = read_all(ctx, name, sh["ShardId"])
            recs[sh["ShardId"]] = [(r["SequenceNumber"], r["PartitionKey"], r["Data"],
                                    r["ApproximateArrivalTimestamp"]) for r in got]
        out[name] = {"arn": s["StreamARN"], "retention": s["RetentionPeriodHours"],
                     "mode": s["StreamModeDetails"]["StreamMode"],
                     "created": s["StreamCreationTimestamp"],
                     "shards": [(x["ShardId"], x["HashKeyRange"],
                                 x["SequenceNumberRange"]["StartingSequenceNumber"])
                                for x in shards],
                     "tags": sorted((t["Key"], t.get("Value", "")) for t in tags),
                     "records": recs}
    return out


@case
def restart_keeps_everything(ctx):
    name = create(ctx, "restart", shards=2)
    ctx.k.put_records(StreamName=name, Records=[
        {"PartitionKey": f"k{i}", "Data": os.urandom(64) + bytes([i])} for i in range(30)])
    ctx.k.add_tags_to_stream(StreamName=name, Tags={"survives": "restart"})
    ctx.k.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
    before = snapshot(ctx)
    check(name in before and sum(len(v) for v in before[name]["records"].values()) == 30,
          "snapshot before the restart")
    limits = ctx.k.describe_limits()
    old_it = ctx.k.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    code = ctx.d.stop()
    eq(code, 0, f"sluiced exit status on SIGTERM:\n{ctx.d.text()}")
    ctx.d.start()
    ctx.refresh()
    after = snapshot(ctx)
    eq(sorted(after), sorted(before), "streams after the restart")
    for n in before:
        for field in ("arn", "retention", "mode", "shards", "tags"):
            eq(after[n][field], before[n][field], f"{n} {field} after the restart")
        eq(after[n]["created"].timestamp(), before[n]["created"].timestamp(),
           f"{n} creation time")
        check(after[n]["records"] == before[n]["records"], f"{n} records after the restart")
    limits.pop("ResponseMetadata", None)
    now = ctx.k.describe_limits()
    now.pop("ResponseMetadata", None)
    eq(now, limits, "DescribeLimits after the restart")
    # An iterator handed out before the restart reads on after it.
    got = ctx.k.get_records(ShardIterator=old_it, Limit=10000)["Records"]
    eq([x["SequenceNumber"] for x in got],
       [x[0] for x in before[name]["records"]["shardId-000000000000"]],
       "an iterator from before the restart")
    # Sequence numbers go on from the last one on each shard.
    for sid, recs in before[name]["records"].items():
        if not recs:
            continue
        start = [x for x in before[name]["shards"] if x[0] == sid][0][1]["StartingHashKey"]
        r = ctx.k.put_record(StreamName=name, PartitionKey="k", Data=b"after",
                             ExplicitHashKey=start)
        eq(r["ShardId"], sid, "ExplicitHashKey routing after the restart")
        eq(int(r["SequenceNumber"]), int(recs[-1][0]) + 1, f"first sequence number on {sid}")


# ---- cases: the sluice CLI ------------------------------------------------

@case
def cli_stream_round_trip(ctx):
    name = ctx.name("cli")
    out = sluice_ok(ctx, "stream", "create", name, "--shards", "2")
    check(name in out, f"create output {out!r}")
    eq(ctx.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
        "OpenShardCount"], 2, "stream created by the CLI")
    check(name in sluice_ok(ctx, "stream", "list").split(), "stream list")
    out = sluice_ok(ctx, "stream", "describe", name)
    for sid in ("shardId-000000000000", "shardId-000000000001"):
        check(sid in out, f"describe lists {sid}")
    check("ACTIVE" in out, "describe shows the status")
    # put with data as an argument and from stdin (any bytes).
    out = sluice_ok(ctx, "put", name, "key-1", "hello")
    shards = all_shards(ctx, name)
    sid = shard_of(shards, hash_key_of("key-1"))
    check(sid in out, f"put output {out!r} names the shard")
    blob = bytes(range(256)) * 3
    sluice_ok(ctx, "put", name, "key-1", input=blob)
    recs, _ = read_all(ctx, name, sid)
    eq([r["Data"] for r in recs], [b"hello", blob], "records put by the CLI")
    check(recs[0]["SequenceNumber"] in out, "put prints the sequence number")
    # get, human: one line per record, the text shown.
    out = sluice_ok(ctx, "get", name)
    check("hello" in out and recs[0]["SequenceNumber"] in out, f"get output {out!r}")
    sluice_ok(ctx, "stream", "delete", name)
    wait_gone(ctx, name)
    check(name not in sluice_ok(ctx, "stream", "list").split(), "deleted stream listed")


@case
def cli_json(ctx):
    name = ctx.name("clij")
    doc = json.loads(sluice_ok(ctx, "--json", "stream", "create", name, "--shards", "3"))
    eq(doc["StreamName"], name, "create --json")
    doc = json.loads(sluice_ok(ctx, "--json", "stream", "list"))
    check(name in doc["StreamNames"], "list --json")
    doc = json.loads(sluice_ok(ctx, "--json", "stream", "describe", name))
    eq(len(doc["Shards"]), 3, "describe --json shards")
    eq(doc["StreamDescriptionSummary"]["StreamName"], name, "describe --json summary")
    shards = doc["Shards"]
    puts = []
    for i in range(12):
        key = f"k{i}"
        p = json.loads(sluice_ok(ctx, "--json", "put", name, key, f"v{i}"))
        eq(p["ShardId"], shard_of(shards, hash_key_of(key)), "put --json routing")
        puts.append((p["ShardId"], p["SequenceNumber"], key, f"v{i}".encode()))
    got = json_lines(sluice_ok(ctx, "--json", "get", name))
    eq(sorted((g["ShardId"], g["SequenceNumber"], g["PartitionKey"],
               base64.b64decode(g["Data"])) for g in got), sorted(puts), "get --json records")
    for g in got:
        check(isinstance(g["ApproximateArrivalTimestamp"], (int, float)), "arrival as a number")
    # --from and --limit on one shard.
    sid = puts[0][0]
    mine = sorted((s, d) for sh, s, _, d in puts if sh == sid)
    seqs = [s for s, _ in mine]
    check(len(seqs) >= 2, "two records on the first shard")

    def get(*args):
        return [g["SequenceNumber"] for g in
                json_lines(sluice_ok(ctx, "--json", "get", name, "--shard", sid, *args))]

    eq(get(), seqs, "get --shard")
    eq(get("--from", "trim-horizon", "--limit", "1"), seqs[:1], "--limit 1")
    eq(get("--from", "at-seq", seqs[1]), seqs[1:], "--from at-seq")
    eq(get("--from", "after-seq", seqs[0]), seqs[1:], "--from after-seq")
    eq(get("--from", "latest"), [], "--from latest")
    eq(get("--from", "at-time", "2001-01-01T00:00:00Z"), seqs, "--from at-time (ISO)")
    last = json_lines(sluice_ok(ctx, "--json", "get", name, "--shard", sid, "--from", "at-seq",
                                seqs[-1]))[0]["ApproximateArrivalTimestamp"]
    eq(get("--from", "at-time", f"{last + 0.001:.3f}"), [], "--from at-time, 1 ms after the last")
    eq(get("--from", "at-time", f"{last:.3f}")[-1:], seqs[-1:], "--from at-time of the last")
    r = sluice(ctx, "get", name, "--from", "at-time", str(int(time.time()) + 3600))
    eq(r.returncode, 1, "--from at-time in the future")
    check("InvalidArgumentException" in r.stderr.decode(), "the server's refusal is shown")
    sluice_ok(ctx, "stream", "delete", name)


@case
def cli_errors(ctx):
    nx = ctx.name("nx")
    r = sluice(ctx, "stream", "describe", nx)
    err = r.stderr.decode()
    eq(r.returncode, 1, "exit status for a missing stream")
    check("ResourceNotFoundException" in err, f"stderr {err!r}")
    eq(len(err.strip().splitlines()), 1, f"one line on stderr: {err!r}")
    name = create(ctx, "clierr")
    r = sluice(ctx, "stream", "create", name)
    eq(r.returncode, 1, "exit status for a duplicate")
    check("ResourceInUseException" in r.stderr.decode(), "duplicate stderr")
    r = sluice(ctx, "put", name, "", "x")
    eq(r.returncode, 1, "exit status for an empty partition key")
    check("ValidationException" in r.stderr.decode(), "the server's refusal is shown")
    # Server down: one line and exit 1, quickly.
    down = free_port()
    t0 = time.monotonic()
    r = subprocess.run([SLUICE, "--endpoint", f"http://127.0.0.1:{down}", "stream", "list"],
                       capture_output=True, timeout=60, check=False)
    eq(r.returncode, 1, "exit status with no server")
    err = r.stderr.decode()
    eq(len(err.strip().splitlines()), 1, f"one line on stderr: {err!r}")
    check(str(down) in err, f"the endpoint is named: {err!r}")
    check(time.monotonic() - t0 < 15, "gave up within 15 s")
    # Usage errors: exit 2.
    for args in (["stream", "create"], ["get", name, "--from", "sideways"],
                 ["get", name, "--from", "at-seq", "1"],
                 ["get", name, "--limit", "zero"], ["stream", "create", name, "--shards", "0"],
                 ["put", name]):
        r = sluice(ctx, *args)
        eq(r.returncode, 2, f"sluice {' '.join(args)}: {r.stderr.decode().strip()}")


@case
def cli_tail(ctx):
    name = create(ctx, "tail", shards=2)
    proc = subprocess.Popen([SLUICE, "--endpoint", ctx.url, "--json", "tail", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, b"")),
                              daemon=True)
    reader.start()
    try:
        # Wait until tail has its iterators (it says so on stderr).
        buf = b""
        deadline = time.monotonic() + 15
        while b"tailing" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.2)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        check(b"tailing" in buf, f"tail never started: {buf!r}")
        sent = set()
        for i in range(10):
            data = b"tail-%d" % i
            ctx.k.put_record(StreamName=name, PartitionKey=f"t{i}", Data=data)
            sent.add(data)
        deadline = time.monotonic() + 15
        while len(lines) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        got = {base64.b64decode(json.loads(x)["Data"]) for x in lines}
        eq(got, sent, "records printed by tail")
        proc.send_signal(signal.SIGINT)
        eq(proc.wait(10), 0, "tail exit status on Ctrl-C")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _Capture(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Capture.seen.append((self.command, self.path, dict(self.headers.items()), body))
        out = b'{"StreamNames": [], "HasMoreStreams": false, "StreamSummaries": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def sigv4_expected(method, path, headers, body, secret, region, service):
    """The SigV4 signature over the headers the request says it signed."""
    auth = headers["Authorization"]
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                     r"\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})", auth)
    check(m, f"Authorization {auth!r}")
    _, date, reg, svc, signed, _ = m.groups()
    eq((reg, svc), (region, service), "credential scope")
    lower = {k.lower(): v for k, v in headers.items()}
    names = signed.split(";")
    for required in ("host", "x-amz-date", "x-amz-target", "content-type"):
        check(required in names, f"{required} not signed")
    canon = "".join(f"{n}:{' '.join(lower[n].split())}\n" for n in names)
    creq = "\n".join([method, path, "", canon, signed, hashlib.sha256(body).hexdigest()])
    amz_date = lower["x-amz-date"]
    eq(amz_date[:8], date, "X-Amz-Date and credential date")
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return m.group(6), hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


@case
def cli_sigv4(ctx):
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Capture)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        _Capture.seen = []
        env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
                   AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                   AWS_REGION="eu-west-3", AWS_DEFAULT_REGION="eu-west-3")
        r = subprocess.run([SLUICE, "--endpoint", f"http://127.0.0.1:{srv.server_port}",
                            "stream", "list"], env=env, capture_output=True, timeout=30,
                           check=False)
        eq(r.returncode, 0, f"stream list on the capture server: {r.stderr!r}")
        eq(len(_Capture.seen), 1, "requests seen")
        method, path, headers, body = _Capture.seen[0]
        eq((method, path), ("POST", "/"), "request line")
        eq(headers.get("X-Amz-Target"), "Kinesis_20131202.ListStreams", "X-Amz-Target")
        eq(headers.get("Content-Type"), "application/x-amz-json-1.1", "Content-Type")
        json.loads(body)
        got, want = sigv4_expected(method, path, headers, body,
                                   "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-3",
                                   "kinesis")
        eq(got, want, "SigV4 signature")
        check(headers["Authorization"].split("Credential=")[1].startswith("AKIDEXAMPLE/"),
              "access key id")
    finally:
        srv.shutdown()
        srv.server_close()


# ---- main -----------------------------------------------------------------

def main():
    try:
        return cases.run(Daemon(), case, Ctx, needs=[SLUICED, SLUICE])
    finally:
        shutil.rmtree(_scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
