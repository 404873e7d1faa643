#!/usr/bin/python3
"""Self-test of openapi_check.py: valid exchanges pass, and every planted violation is reported
(a checker that reports nothing would pass every contract test, so this test is what keeps the
contract tests honest). Run by ctest as "contract: openapi_check finds …"."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = [sys.executable, os.path.join(HERE, "openapi_check.py")]
FIX = os.path.join(HERE, "fixtures")


def run(*args):
    p = subprocess.run(CHECK + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout


failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


rc, out = run("--spec", f"{FIX}/swagger2.json", "--relax", "date-maxlength",
              "--exchanges", f"{FIX}/swagger2.good.jsonl")
expect(rc == 0, f"valid Swagger 2.0 exchanges rejected: {out}")
expect("2 exchanges valid against 2 operations" in out, f"control route not skipped: {out}")

rc, out = run("--spec", f"{FIX}/swagger2.json", "--exchanges", f"{FIX}/swagger2.good.jsonl")
expect(rc == 1 and "incomeAuditDate: '2026-12-06' is too long" in out,
       f"the date-maxlength quirk is enforced unless relaxed: {out}")

rc, out = run("--spec", f"{FIX}/openapi3.yaml", "--prefix", "/v2",
              "--exchanges", f"{FIX}/openapi3.good.jsonl")
expect(rc == 0, f"valid OpenAPI 3 exchanges rejected (nullable, json-patch, prefix): {out}")

planted_swagger = [
    "path parameter reservationId: 'abc' is not of type 'integer'",
    "header parameter x-app-key: 'NOT-A-UUID' does not match",
    "request body /criteria/charges: {'transactionCode': 9100, 'price': {'amount': '50'}} is not of type 'array'",
    "response body /postings/0/transactionNo: 'x' is not of type 'number'",
    "query parameter reservationList: required but missing",
    "response body /: [] is not of type 'object'",
    "declares no DELETE (only GET)",
    "GET /csh/v1/nowhere: operation: no path of the spec matches",
    "response body /: 'type' is a required property",
    "status 503 is not declared",
]
rc, out = run("--spec", f"{FIX}/swagger2.json", "--relax", "date-maxlength",
              "--exchanges", f"{FIX}/swagger2.bad.jsonl")
expect(rc == 1, "planted Swagger 2.0 violations must fail the check")
for v in planted_swagger:
    expect(v in out, f"missed: {v}")
expect(len(out.strip().splitlines()) == len(planted_swagger),
       f"reported more than was planted:\n{out}")

planted_oas3 = [
    "request body /: Additional properties are not allowed ('Unknown' was unexpected)",
    "response body /Id: 'seven' is not of type 'integer'",
    "request body /0: 'path' is a required property",
    "request body /0/op: 'move' is not one of",
]
rc, out = run("--spec", f"{FIX}/openapi3.yaml", "--prefix", "/v2",
              "--exchanges", f"{FIX}/openapi3.bad.jsonl")
expect(rc == 1, "planted OpenAPI 3 violations must fail the check")
for v in planted_oas3:
    expect(v in out, f"missed: {v}")
expect(len(out.strip().splitlines()) == len(planted_oas3), f"reported more than was planted:\n{out}")

empty = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"openapi_check_empty_{os.getpid()}.jsonl")
open(empty, "w").close()
rc, out = run("--spec", f"{FIX}/openapi3.yaml", "--exchanges", empty)
os.unlink(empty)
expect(rc == 1 and "only 0 exchanges" in out, f"an empty recording must fail: {out}")

rc, out = run("--spec", f"{FIX}/openapi3.yaml", "--exchanges", "/nonexistent/x.jsonl")
expect(rc == 2, "an unreadable exchange file is a usage error (exit 2)")

for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
