#!/usr/bin/python3
# bench/influx_py.py - the baseline of bench/influx: the InfluxDB 1.x ->
# PostgreSQL script a user writes by hand (influxdb client + psycopg2,
# executemany in batches of 1000 rows, a commit per batch), into the same
# narrow telemetry_data table, with the same two indexes, as
# `ferry copy influx://... postgres://...`.
#
#   /usr/bin/python3 bench/influx_py.py HOST PORT DATABASE POSTGRES-DSN
#
# Run with Debian's python3 (python3-influxdb, python3-psycopg2).  It is
# kept deliberately close to what such scripts look like: per measurement
# SELECT * ... GROUP BY *, iterate the points, executemany.  No chunking:
# with influxdb-python 5.3 (Debian's), chunked=True fails on the msgpack
# responses the client asks for (influxdata/influxdb-python#820:
# "unpack(b) received extra data"), so the script that works is the one
# that reads a whole measurement per query.  msgpack keeps float vs
# integer, so the value's Python type picks the column.
# Prints "points=N rows=M" at the end.
import datetime
import json
import sys

import psycopg2
from influxdb import InfluxDBClient

BATCH = 1000
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

DDL = """
CREATE TABLE IF NOT EXISTS telemetry_data (
    time timestamptz NOT NULL,
    series text NOT NULL,
    measurement text NOT NULL,
    field text NOT NULL,
    numeric_value double precision,
    integer_value bigint,
    text_value text,
    boolean_value boolean,
    tags jsonb NOT NULL
)"""

INSERT = """INSERT INTO telemetry_data (time, series, measurement, field,
    numeric_value, integer_value, text_value, boolean_value, tags)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"""


def series_key(measurement, tags):
    """entity_id when the point has it, else measurement,k=v,... (sorted)."""
    if tags.get("entity_id"):
        return tags["entity_id"]

    def esc(s, meas=False):
        s = s.replace(",", "\\,").replace(" ", "\\ ")
        return s if meas else s.replace("=", "\\=")

    return ",".join([esc(measurement, True)] +
                    ["%s=%s" % (esc(k), esc(v)) for k, v in sorted(tags.items())])


def quote_ident(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: influx_py.py HOST PORT DATABASE POSTGRES-DSN")
    host, port, database, dsn = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

    client = InfluxDBClient(host, port, database=database)
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    cur.execute(DDL)
    conn.commit()

    points = rows = 0
    batch = []
    for m in client.get_list_measurements():
        name = m["name"]
        result = client.query("SELECT * FROM %s GROUP BY *" % quote_ident(name), epoch="ns")
        for (_, tags), series_points in result.items():
            tags = {k: v for k, v in (tags or {}).items() if v}
            series = series_key(name, tags)
            tags_json = json.dumps(tags)
            for p in series_points:
                points += 1
                t = EPOCH + datetime.timedelta(microseconds=p["time"] // 1000)
                for field, v in p.items():
                    if field == "time" or v is None:
                        continue
                    num = integer = text = boolean = None
                    if isinstance(v, bool):
                        boolean = v
                    elif isinstance(v, int):
                        # as ferry's narrow layout: numeric_value too when exact
                        integer = v
                        if abs(v) <= 2 ** 53:
                            num = float(v)
                    elif isinstance(v, float):
                        num = v
                    else:
                        text = str(v)
                    batch.append((t, series, name, field, num, integer, text, boolean, tags_json))
                    if len(batch) >= BATCH:
                        cur.executemany(INSERT, batch)
                        conn.commit()
                        rows += len(batch)
                        batch = []
    if batch:
        cur.executemany(INSERT, batch)
        conn.commit()
        rows += len(batch)

    cur.execute("CREATE INDEX IF NOT EXISTS telemetry_data_series_time_idx "
                "ON telemetry_data (series, time DESC)")
    cur.execute("CREATE INDEX IF NOT EXISTS telemetry_data_series_field_time_idx "
                "ON telemetry_data (series, measurement, field, time DESC)")
    conn.commit()
    conn.close()
    print("points=%d rows=%d" % (points, rows))


if __name__ == "__main__":
    main()
