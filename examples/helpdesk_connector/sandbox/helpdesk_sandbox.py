#!/usr/bin/env python3
"""A sandbox of the (invented) Helpdesk REST API, for the example connector and its
conformance check. Standard library only. Listens on 127.0.0.1.

usage: helpdesk_sandbox.py [--port N] [--port-file FILE] [--token TOKEN] [--tickets N]

--port 0 (the default) takes a free port; the port is printed on stdout and, with
--port-file, written to that file once the server listens.

The API (see ../README.md):
  GET  /api/me                                   → {"agent": …, "token_expires_at_ms": …}
  GET  /api/tickets?limit=N[&since=T[&after=ID]]  → {"tickets": […], "has_more": b}
       ordered by (updated_at, id); since/after: only tickets after (T, ID), or at/after T
       when no `after` (or an empty one) is given
  GET  /api/tickets?external_id=X                → {"tickets": [those carrying X]}
  GET  /api/tickets/ID                           → the ticket, or 404
  POST /api/tickets {subject, status, requester_email, external_id}  → 201 the ticket
  PUT  /api/tickets/ID {…}                       → 200 the ticket (updated_at moves only when
                                                   something changed)
Every route wants "Authorization: Bearer TOKEN" (401 otherwise, echoing the token it was
given — invented, so that the redaction of secrets is tested). A body that is not a JSON
object, or a ticket without a subject, is 422.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
TICKETS = {}  # id (int) -> ticket
NEXT_ID = [1]
CLOCK = [1_714_550_400]  # 2024-05-01T08:00:00Z, advanced one second per change


def stamp():
    CLOCK[0] += 1
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(CLOCK[0]))


def new_ticket(fields):
    tid = NEXT_ID[0]
    NEXT_ID[0] += 1
    t = {"id": tid, "subject": fields.get("subject", ""), "status": fields.get("status", "open"),
         "requester_email": fields.get("requester_email", ""), "external_id": fields.get("external_id", ""),
         "updated_at": stamp()}
    TICKETS[tid] = t
    return t


class Handler(BaseHTTPRequestHandler):
    token = "sandbox-token"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorised(self):
        given = self.headers.get("Authorization", "")
        if given != "Bearer " + self.token:
            # Echoes what it was given, as some APIs do: the host must redact it.
            self.reply(401, {"error": "invalid token: " + given.replace("Bearer ", "", 1)})
            return False
        return True

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            b = json.loads(self.rfile.read(n) or b"null")
        except ValueError:
            return None
        return b if isinstance(b, dict) else None

    def do_GET(self):
        if not self.authorised():
            return
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with LOCK:
            if url.path == "/api/me":
                return self.reply(200, {"agent": "sandbox", "token_expires_at_ms": 4102444800000})
            if url.path == "/api/tickets":
                if "external_id" in q:
                    found = [t for t in TICKETS.values() if t["external_id"] == q["external_id"]]
                    return self.reply(200, {"tickets": found, "has_more": False})
                limit = max(1, min(100, int(q.get("limit", "50"))))
                rows = sorted(TICKETS.values(), key=lambda t: (t["updated_at"], t["id"]))
                since, after = q.get("since"), q.get("after")
                if since and after:
                    rows = [t for t in rows if (t["updated_at"], t["id"]) > (since, int(after))]
                elif since:
                    rows = [t for t in rows if t["updated_at"] >= since]
                return self.reply(200, {"tickets": rows[:limit], "has_more": len(rows) > limit})
            if url.path.startswith("/api/tickets/"):
                try:
                    t = TICKETS.get(int(url.path.rsplit("/", 1)[1]))
                except ValueError:
                    t = None
                return self.reply(200, t) if t else self.reply(404, {"error": "no such ticket"})
        self.reply(404, {"error": "no such route"})

    def do_POST(self):
        if not self.authorised():
            return
        if urlparse(self.path).path != "/api/tickets":
            return self.reply(404, {"error": "no such route"})
        b = self.body()
        if b is None or not b.get("subject"):
            return self.reply(422, {"error": "a ticket needs a subject"})
        with LOCK:
            self.reply(201, new_ticket(b))

    def do_PUT(self):
        if not self.authorised():
            return
        path = urlparse(self.path).path
        b = self.body()
        if b is None:
            return self.reply(422, {"error": "the body is not a JSON object"})
        with LOCK:
            try:
                t = TICKETS.get(int(path.rsplit("/", 1)[1])) if path.startswith("/api/tickets/") else None
            except ValueError:
                t = None
            if not t:
                return self.reply(404, {"error": "no such ticket"})
            changed = False
            for k in ("subject", "status", "requester_email"):
                if k in b and b[k] != t[k]:
                    t[k] = b[k]
                    changed = True
            if changed:
                t["updated_at"] = stamp()
            self.reply(200, t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--token", default="sandbox-token")
    ap.add_argument("--tickets", type=int, default=5)
    a = ap.parse_args()
    Handler.token = a.token
    for i in range(a.tickets):
        new_ticket({"subject": "Printer on fire #%d" % (i + 1), "requester_email": "user%d@example.com" % (i + 1)})
    # Two tickets sharing a timestamp: a cursor that is not tie-safe loses one.
    if a.tickets >= 2:
        TICKETS[2]["updated_at"] = TICKETS[1]["updated_at"]
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    port = server.server_address[1]
    print(port, flush=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.replace(a.port_file + ".tmp", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
