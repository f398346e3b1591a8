#!/usr/bin/python3
# bench/py_dualwrite.py - the baseline of bench/relay: the dual-write
# service users write by hand in front of InfluxDB while they move to
# PostgreSQL.  A Flask app with one route, POST /write, that parses the
# line protocol body into points, writes them to InfluxDB with the
# influxdb client (InfluxDBClient.write_points) and as narrow rows into
# PostgreSQL with psycopg2 (the telemetry_data table of `ferry copy
# lp://`: one row per field), in that request, and answers 204.  If
# either store fails it logs a warning and answers 500 (the client
# retries).  Run with Flask's threaded server, as such services are run.
#
#   /usr/bin/python3 bench/py_dualwrite.py --listen HOST:PORT \
#       --influx HOST:PORT --pg POSTGRES-DSN
#
# Debian packages: python3-flask, python3-influxdb, python3-psycopg2.
# PostgreSQL rows go in, a commit per request, with --insert:
#   executemany  cursor.executemany(INSERT, rows) (default): what such
#                services and bench/influx_py.py do; one round trip per row
#   values       psycopg2.extras.execute_values: one multi-row INSERT per
#                1000 rows, the fast way to use psycopg2
# A ThreadedConnectionPool gives each request thread its own connection.
# The line protocol parser is the plain one such a service has: escapes,
# quoted strings, i-suffixed integers, booleans, the precision parameter.
# It does not check what influxd would refuse (the load is well formed).
# GET|HEAD /ping answers 204 (bench/relay waits for it).
import argparse
import datetime
import gzip
import json
import logging
import sys

import psycopg2
import psycopg2.extras
import psycopg2.pool
from flask import Flask, Response, request
from influxdb import InfluxDBClient

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
PRECISION_NS = {"n": 1, "ns": 1, "u": 1000, "us": 1000, "ms": 1000000,
                "s": 1000000000, "m": 60000000000, "h": 3600000000000}

INSERT_VALUES = """INSERT INTO telemetry_data (time, series, measurement, field,
    numeric_value, integer_value, text_value, boolean_value, tags) VALUES %s"""
INSERT_ROW = """INSERT INTO telemetry_data (time, series, measurement, field,
    numeric_value, integer_value, text_value, boolean_value, tags)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"""

app = Flask(__name__)
log = logging.getLogger("dualwrite")
influx = None
pgpool = None
insert_mode = "executemany"


def split_unescaped(s, sep, quotes=False):
    """Split s at sep where it is not escaped (nor inside "..." when quotes)."""
    out, cur, i, inq = [], [], 0, False
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            cur.append(s[i:i + 2])
            i += 2
            continue
        if quotes and ch == '"':
            inq = not inq
        elif ch == sep and not inq:
            out.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def unescape(s):
    return s.replace("\\,", ",").replace("\\ ", " ").replace("\\=", "=").replace("\\\\", "\\")


def parse_value(v):
    if v.startswith('"'):
        return v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if v.endswith("i"):
        return int(v[:-1])
    if v in ("t", "T", "true", "True", "TRUE"):
        return True
    if v in ("f", "F", "false", "False", "FALSE"):
        return False
    return float(v)


def parse_lines(body, mult, now_ns):
    """Line protocol -> points as the influxdb client takes them."""
    points = []
    for line in body.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = split_unescaped(line, " ", quotes=True)
        parts = [p for p in parts if p != ""]
        key, fields = parts[0], parts[1]
        ts = int(parts[2]) * mult if len(parts) > 2 else now_ns
        kv = split_unescaped(key, ",")
        tags = {}
        for t in kv[1:]:
            k, v = split_unescaped(t, "=")
            tags[unescape(k)] = unescape(v)
        fv = {}
        for f in split_unescaped(fields, ",", quotes=True):
            k, v = f.split("=", 1) if "\\=" not in f else split_unescaped(f, "=", quotes=True)
            fv[unescape(k)] = parse_value(v)
        points.append({"measurement": unescape(kv[0]), "tags": tags, "fields": fv, "time": ts})
    return points


def series_key(measurement, tags):
    """entity_id when the point has it, else measurement,k=v,... (sorted)."""
    if tags.get("entity_id"):
        return tags["entity_id"]

    def esc(s, meas=False):
        s = s.replace(",", "\\,").replace(" ", "\\ ")
        return s if meas else s.replace("=", "\\=")

    return ",".join([esc(measurement, True)] +
                    ["%s=%s" % (esc(k), esc(v)) for k, v in sorted(tags.items())])


def rows_of(points):
    rows = []
    for p in points:
        t = EPOCH + datetime.timedelta(microseconds=p["time"] // 1000)
        series = series_key(p["measurement"], p["tags"])
        tags = json.dumps(p["tags"])
        for field, v in p["fields"].items():
            num = integer = text = boolean = None
            if isinstance(v, bool):
                boolean = v
            elif isinstance(v, int):
                integer = v
                if abs(v) <= 2 ** 53:
                    num = float(v)
            elif isinstance(v, float):
                num = v
            else:
                text = v
            rows.append((t, series, p["measurement"], field, num, integer, text, boolean, tags))
    return rows


@app.route("/ping", methods=["GET", "HEAD"])
def ping():
    return Response(status=204)


@app.route("/write", methods=["POST"])
def write():
    db = request.args.get("db")
    if not db:
        return Response('{"error":"database is required"}', status=400,
                        content_type="application/json")
    data = request.get_data()
    if request.headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    if not data.strip():
        return Response(status=204)
    mult = PRECISION_NS.get(request.args.get("precision", "ns"), 1)
    now_ns = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1e9)
    try:
        points = parse_lines(data.decode("utf-8"), mult, now_ns)
    except (ValueError, IndexError) as e:
        return Response(json.dumps({"error": "unable to parse: %s" % e}), status=400,
                        content_type="application/json")

    influx_ok = postgres_ok = False
    try:
        influx.write_points(points, time_precision="n", database=db, batch_size=5000)
        influx_ok = True
    except Exception as e:  # noqa: BLE001 - what such services do
        log.warning("influx write failed: %s", e)
    conn = None
    try:
        conn = pgpool.getconn()
        with conn.cursor() as cur:
            if insert_mode == "values":
                psycopg2.extras.execute_values(cur, INSERT_VALUES, rows_of(points), page_size=1000)
            else:
                cur.executemany(INSERT_ROW, rows_of(points))
        conn.commit()
        postgres_ok = True
    except Exception as e:  # noqa: BLE001
        log.warning("postgres write failed: %s", e)
        if conn is not None:
            conn.rollback()
    finally:
        if conn is not None:
            pgpool.putconn(conn)
    if influx_ok != postgres_ok:
        log.warning("stores disagree: influx_ok=%s postgres_ok=%s", influx_ok, postgres_ok)
    if not (influx_ok and postgres_ok):
        return Response('{"error":"write failed"}', status=500, content_type="application/json")
    return Response(status=204)


def main():
    global influx, pgpool, insert_mode
    ap = argparse.ArgumentParser(description="seed-style Flask dual-writer (bench/relay)")
    ap.add_argument("--listen", required=True, help="HOST:PORT")
    ap.add_argument("--influx", required=True, help="HOST:PORT of influxd")
    ap.add_argument("--pg", required=True, help="PostgreSQL DSN")
    ap.add_argument("--pool", type=int, default=64, help="PostgreSQL connections at most")
    ap.add_argument("--insert", choices=("executemany", "values"), default="executemany",
                    help="how rows go into PostgreSQL (default executemany)")
    a = ap.parse_args()
    insert_mode = a.insert
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # werkzeug logs every request at INFO: a production service turns it down
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    ih, ip = a.influx.rsplit(":", 1)
    influx = InfluxDBClient(ih, int(ip), "root", "root")
    pgpool = psycopg2.pool.ThreadedConnectionPool(1, a.pool, a.pg)
    host, port = a.listen.rsplit(":", 1)
    app.run(host=host, port=int(port), threaded=True)


if __name__ == "__main__":
    sys.exit(main())
