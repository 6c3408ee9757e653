# SPDX-License-Identifier: BSD-3-Clause
"""Kinesis clients on sluiced (or any Kinesis endpoint) for tests and benchmarks.

- boto3_or_reexec(): boto3 from this interpreter, or the calling script
  re-run under the `python3` on PATH that has it;
- client(): a boto3 Kinesis client with fixed credentials and region, so
  that no profile of the machine changes what is tested;
- call(): one Kinesis JSON 1.1 request without boto3 (urllib), its
  Authorization SigV4-shaped (sluiced checks the shape, not the signature);
- read_all(): every record of a shard from TRIM_HORIZON to the tip.

boto3 is imported only by the functions that need it: the module loads
where boto3 is missing (a producer re-run in a network namespace).
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

from checks import Failure

REGION = "us-east-1"
ACCESS_KEY = "x"
SECRET_KEY = "x"
# Set, to the script's path, in the environment of a script re-run under
# another interpreter: it is re-run once at the most.
REEXEC_ENV = "SL_BOTO3_REEXEC"


def boto3_or_reexec(script):
    """The boto3 module when this interpreter has it (botocore too). Else,
    once, os.execv() of `script` (with this process's arguments) under the
    first `python3` or `python` on PATH that imports both; this call then
    does not return. None when no interpreter has them."""
    try:
        import boto3
        import botocore  # noqa: F401
        return boto3
    except ImportError:
        pass
    script = os.path.abspath(script)
    if os.environ.get(REEXEC_ENV) != script:
        for name in ("python3", "python"):
            cand = shutil.which(name)
            if not cand:
                continue
            probe = subprocess.run([cand, "-c", "import boto3, botocore"],
                                   capture_output=True, check=False)
            if probe.returncode == 0:
                os.environ[REEXEC_ENV] = script
                os.execv(cand, [cand, script] + sys.argv[1:])
    return None


def endpoint_url(endpoint):
    """An API port on 127.0.0.1, or a URL, as a URL."""
    return f"http://127.0.0.1:{endpoint}" if isinstance(endpoint, int) else endpoint


def client(endpoint, validate=True, attempts=1, read_timeout=30):
    """A boto3 Kinesis client on endpoint (a port on 127.0.0.1 or a URL).
    attempts: boto3's total_max_attempts (None: boto3's default retries);
    validate=False lets invalid parameters reach the server, which must
    refuse them itself."""
    import boto3
    from botocore.config import Config

    kw = {"connect_timeout": 5, "read_timeout": read_timeout,
          "parameter_validation": validate}
    if attempts is not None:
        kw["retries"] = {"total_max_attempts": attempts, "mode": "standard"}
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name=REGION).client("kinesis", endpoint_url=endpoint_url(endpoint),
                                   config=Config(**kw))


def headers(op, date=None):
    """The headers of a Kinesis JSON 1.1 request for op, with an
    Authorization of SigV4's shape and a dummy signature."""
    date = date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"Kinesis_20131202.{op}",
        "X-Amz-Date": date,
        "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIDTEST/{date[:8]}/{REGION}/"
                         f"kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, "
                         f"Signature={'0' * 64}",
    }


def call(endpoint, op, body, timeout=30):
    """One Kinesis JSON 1.1 call: (HTTP status, decoded JSON body). An
    endpoint that does not answer raises OSError (urllib.error.URLError)."""
    req = urllib.request.Request(endpoint_url(endpoint) + "/", method="POST",
                                 data=json.dumps(body).encode(), headers=headers(op))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def read_all(kc, stream, shard_id, rounds=10000):
    """Every record of a shard, from TRIM_HORIZON until a page is empty with
    MillisBehindLatest 0; Failure after `rounds` pages."""
    it = kc.get_shard_iterator(StreamName=stream, ShardId=shard_id,
                               ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = []
    for _ in range(rounds):
        r = kc.get_records(ShardIterator=it, Limit=10000)
        out += r["Records"]
        if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
            return out
        it = r["NextShardIterator"]
    raise Failure(f"{stream}/{shard_id}: GetRecords never reached the tip")
