#!/usr/bin/python3
"""influx2_fake.py PORTFILE - a small stand-in for the InfluxDB 2.x HTTP API,
for test_influx_writer.c: no InfluxDB 2.x can be installed on the test
machines (Debian ships influxd 1.6 only), so the writer's 2.x requests are
checked against the answers InfluxDB OSS 2.x documents for them:

  POST /api/v2/write?org=&bucket=&precision=ns  ("Authorization: Token T")
    204  all written
    400  {"code":"invalid","message":"unable to parse '...': ..."}: a line
         does not parse; nothing of the body is written
    401  {"code":"unauthorized","message":"unauthorized access"}
    404  {"code":"not found","message":"bucket \"B\" not found"} (or the
         organization)
    422  {"code":"unprocessable entity","message":"failure writing points to
         database: partial write: field type conflict: ..."}: the other
         lines are written
    429  bucket "busy": {"code":"too many requests",...}, Retry-After: 7
    503  bucket "down": {"code":"unavailable",...}, Retry-After: 3
  GET  /api/v2/buckets?org=&name=   200 {"buckets":[...]} / 404
  GET  /api/v2/orgs?org=            200 {"orgs":[{"id":..,"name":..}]} / 404
  POST /api/v2/buckets              201 / 422 (exists)
  GET  /ping                        204
And for the test only:
  GET  /fake/points?bucket=B        the stored points, one "series time
                                    field=value" line each, sorted
  GET  /fake/last                   the last write's path and headers (JSON)

The org is "acme" (id 0a1b2c3d4e5f6789), the token "s3cret", bucket "ha"
exists at start.  Binds 127.0.0.1 on a free port and writes it to PORTFILE.
"""
import gzip
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ORG, ORG_ID, TOKEN = "acme", "0a1b2c3d4e5f6789", "s3cret"
LOCK = threading.Lock()
BUCKETS = {"ha": {"points": {}, "types": {}}}
LAST = {}

# measurement[,tags] fields [time]; escapes are not needed by the test
LINE = re.compile(r"^([^ ,]+)((?:,[^ ]+)?) ([^ ]+)(?: (-?\d+))?$")


def field_type(v):
    if v.startswith('"') and v.endswith('"') and len(v) >= 2:
        return "string"
    if re.fullmatch(r"-?\d+i", v):
        return "integer"
    if v in ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"):
        return "boolean"
    float(v)  # ValueError: not a number
    return "float"


def parse(line):
    m = LINE.match(line)
    if not m:
        raise ValueError("missing fields")
    fields = []
    for kv in m.group(3).split(","):
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise ValueError("missing field value")
        try:
            fields.append((k, v, field_type(v)))
        except ValueError:
            raise ValueError("invalid number") from None
    return m.group(1), m.group(1) + m.group(2), fields, m.group(4) or "0"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as the writer expects

    def log_message(self, *a):
        pass

    def answer(self, code, obj=None, headers=()):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if obj is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def text(self, s):
        body = s.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        b = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding") == "gzip":
            b = gzip.decompress(b)
        return b

    def authorized(self):
        if self.headers.get("Authorization") == "Token " + TOKEN:
            return True
        self.answer(401, {"code": "unauthorized", "message": "unauthorized access"})
        return False

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/ping":
            return self.answer(204)
        if u.path == "/fake/points":
            with LOCK:
                pts = BUCKETS.get(q.get("bucket"), {"points": {}})["points"]
                lines = sorted("%s %s %s=%s" % (k[0], k[1], k[2], v) for k, v in pts.items())
            return self.text("".join(x + "\n" for x in lines))
        if u.path == "/fake/last":
            with LOCK:
                return self.answer(200, LAST)
        if not self.authorized():
            return
        if u.path == "/api/v2/orgs":
            if q.get("org") != ORG:
                return self.answer(404, {"code": "not found",
                                         "message": "organization name \"%s\" not found" % q.get("org")})
            return self.answer(200, {"orgs": [{"id": ORG_ID, "name": ORG}]})
        if u.path == "/api/v2/buckets":
            if q.get("org") != ORG:
                return self.answer(404, {"code": "not found",
                                         "message": "organization name \"%s\" not found" % q.get("org")})
            with LOCK:
                have = q.get("name") in BUCKETS
            if not have:
                return self.answer(404, {"code": "not found",
                                         "message": "bucket \"%s\" not found" % q.get("name")})
            return self.answer(200, {"buckets": [{"id": "b" + ORG_ID, "orgID": ORG_ID,
                                                  "name": q.get("name"), "retentionRules": []}]})
        self.answer(404, {"code": "not found", "message": "path not found"})

    def do_POST(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        body = self.body()
        if u.path == "/api/v2/buckets":
            if not self.authorized():
                return
            b = json.loads(body)
            if b.get("orgID") != ORG_ID:
                return self.answer(404, {"code": "not found", "message": "organization not found"})
            with LOCK:
                if b["name"] in BUCKETS:
                    return self.answer(422, {"code": "conflict",
                                             "message": "bucket with name %s already exists" % b["name"]})
                BUCKETS[b["name"]] = {"points": {}, "types": {}}
            return self.answer(201, {"id": "b" + ORG_ID, "orgID": ORG_ID, "name": b["name"],
                                     "retentionRules": b.get("retentionRules", [])})
        if u.path != "/api/v2/write":
            return self.answer(404, {"code": "not found", "message": "path not found"})
        with LOCK:
            LAST.clear()
            LAST.update({"path": self.path, "content_encoding": self.headers.get("Content-Encoding"),
                         "authorization": self.headers.get("Authorization"), "lines": 0})
        if not self.authorized():
            return
        if q.get("precision") != "ns":
            return self.answer(400, {"code": "invalid", "message": "precision must be ns here"})
        if q.get("org") != ORG:
            return self.answer(404, {"code": "not found",
                                     "message": "organization name \"%s\" not found" % q.get("org")})
        bucket = q.get("bucket")
        if bucket == "busy":
            return self.answer(429, {"code": "too many requests", "message": "rate limit exceeded"},
                               [("Retry-After", "7")])
        if bucket == "down":
            return self.answer(503, {"code": "unavailable", "message": "service unavailable"},
                               [("Retry-After", "3")])
        with LOCK:
            if bucket not in BUCKETS:
                return self.answer(404, {"code": "not found",
                                         "message": "bucket \"%s\" not found" % bucket})
            bk = BUCKETS[bucket]
            lines = [x for x in body.decode().split("\n") if x.strip()]
            LAST["lines"] = len(lines)
            parsed = []
            for x in lines:   # 400: the first bad line, nothing written
                try:
                    parsed.append(parse(x))
                except ValueError as e:
                    return self.answer(400, {"code": "invalid",
                                             "message": "unable to parse '%s': %s" % (x, e)})
            dropped, first = 0, None
            for meas, series, fields, ts in parsed:
                bad = None
                for k, v, t in fields:
                    had = bk["types"].get((meas, k))
                    if had and had != t:
                        bad = ("field type conflict: input field \"%s\" on measurement \"%s\" "
                               "is type %s, already exists as type %s" % (k, meas, t, had))
                        break
                if bad:
                    dropped += 1
                    first = first or bad
                    continue
                for k, v, t in fields:
                    bk["types"][(meas, k)] = t
                    bk["points"][(series, ts, k)] = v
        if dropped:
            return self.answer(422, {"code": "unprocessable entity",
                                     "message": "failure writing points to database: partial write: "
                                                "%s dropped=%d" % (first, dropped)})
        self.answer(204)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
