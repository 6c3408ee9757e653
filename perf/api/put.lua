-- SPDX-License-Identifier: BSD-3-Clause
--
-- put.lua: the wrk script of perf/bench_api.sh. Sends prepared Kinesis
-- PutRecords or PutRecord bodies, one per request, in rotation, and checks
-- every answer: HTTP 200 and, for PutRecords, "FailedRecordCount": 0.
--
--   wrk ... -s perf/api/put.lua URL -- OPERATION BODIES RECORDS_PER_BODY
--
-- OPERATION is PutRecords or PutRecord; BODIES a file of JSON bodies, one
-- per line (perf/api/bench_api.py bodies writes them); RECORDS_PER_BODY how
-- many records each body carries. The requests are formatted once, in
-- init(), so that wrk spends its time on the connection and not on Lua.
--
-- done() prints one line on stdout, tab-separated key=value pairs, that
-- bench_api.py reads:
--   wrk_result requests= duration_us= ok_records= failed_records= non200=
--   malformed= err_connect= err_read= err_write= err_timeout= err_status=
--   lat_p50_us= lat_p90_us= lat_p99_us= lat_p999_us= lat_max_us= first_bad=
-- ok_records counts records in 200 answers that were not reported failed;
-- a PutRecords answer without a FailedRecordCount, or a PutRecord answer
-- without a SequenceNumber, is malformed. first_bad is the status and the
-- start of the body of the first answer that was not a clean success.

local threads = {}

-- Every request carries the same SigV4-shaped headers: sluice, like
-- Kinesis, refuses a request without an Authorization header of that shape
-- and an X-Amz-Date (neither server checks the signature itself).
local function headers_for(operation)
	return {
		["X-Amz-Target"] = "Kinesis_20131202." .. operation,
		["Content-Type"] = "application/x-amz-json-1.1",
		["X-Amz-Date"] = "20260101T000000Z",
		["Authorization"] = "AWS4-HMAC-SHA256 "
			.. "Credential=x/20260101/us-east-1/kinesis/aws4_request, "
			.. "SignedHeaders=host;x-amz-date, "
			.. "Signature=" .. string.rep("0123456789abcdef", 4),
	}
end

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	operation = args[1]
	local path = args[2]
	per_body = tonumber(args[3])
	if operation ~= "PutRecords" and operation ~= "PutRecord" then
		error("put.lua: OPERATION must be PutRecords or PutRecord, not " .. tostring(operation))
	end
	if path == nil or per_body == nil or per_body < 1 then
		error("put.lua: usage: -- OPERATION BODIES RECORDS_PER_BODY")
	end
	local h = headers_for(operation)
	reqs = {}
	for line in io.lines(path) do
		if #line > 0 then
			reqs[#reqs + 1] = wrk.format("POST", "/", h, line)
		end
	end
	if #reqs == 0 then
		error("put.lua: no bodies in " .. path)
	end
	next_req = 0
	ok_records, failed_records, non200, malformed = 0, 0, 0, 0
	first_bad = ""
end

function request()
	next_req = next_req % #reqs + 1
	return reqs[next_req]
end

local function note_bad(status, body)
	if first_bad == "" then
		first_bad = status .. " " .. string.sub(body or "", 1, 200)
	end
end

function response(status, headers, body)
	if status ~= 200 then
		non200 = non200 + 1
		note_bad(status, body)
		return
	end
	if operation == "PutRecords" then
		local failed = string.match(body, '"FailedRecordCount"%s*:%s*(%d+)')
		if failed == nil then
			malformed = malformed + 1
			note_bad(status, body)
			return
		end
		failed = tonumber(failed)
		if failed > 0 then
			note_bad(status, body)
		end
		failed_records = failed_records + failed
		ok_records = ok_records + per_body - failed
	elseif string.find(body, '"SequenceNumber"', 1, true) then
		ok_records = ok_records + 1
	else
		malformed = malformed + 1
		note_bad(status, body)
	end
end

function done(summary, latency, requests)
	local ok, failed, bad, mal, first = 0, 0, 0, 0, ""
	for _, t in ipairs(threads) do
		ok = ok + t:get("ok_records")
		failed = failed + t:get("failed_records")
		bad = bad + t:get("non200")
		mal = mal + t:get("malformed")
		if first == "" then
			first = t:get("first_bad")
		end
	end
	first = string.gsub(first, "[%c]", " ")
	local e = summary.errors
	local fields = {
		"wrk_result",
		"requests=" .. summary.requests,
		"duration_us=" .. summary.duration,
		"ok_records=" .. ok,
		"failed_records=" .. failed,
		"non200=" .. bad,
		"malformed=" .. mal,
		"err_connect=" .. e.connect,
		"err_read=" .. e.read,
		"err_write=" .. e.write,
		"err_timeout=" .. e.timeout,
		"err_status=" .. e.status,
		"lat_p50_us=" .. latency:percentile(50),
		"lat_p90_us=" .. latency:percentile(90),
		"lat_p99_us=" .. latency:percentile(99),
		"lat_p999_us=" .. latency:percentile(99.9),
		"lat_max_us=" .. latency.max,
		"first_bad=" .. first,
	}
	io.write(table.concat(fields, "\t") .. "\n")
end
