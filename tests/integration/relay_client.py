#!/usr/bin/python3
"""relay_client.py - a Home Assistant-style writer for the relay tests.

Writes batches of points with python3-influxdb's InfluxDBClient.write_points,
the client Home Assistant's influxdb integration uses (Basic auth always,
only 204 is success).  Every point has a unique (entity, time), so a point
stored twice shows as a doubled row in PostgreSQL.  After each batch the
server acknowledged, its points' keys are appended to ACKED (one
"entity_id time_ns value" line each, flushed): the points the relay
promised to keep.

    relay_client.py PORT DB ACKED --batches N --size K --tag T [--start-ns NS]
                    [--retry] [--empty-first]

--retry: on a connection error or a 5xx, sleep and send the same batch
again until it is acknowledged (what Telegraf does); without it, such a
batch is counted as failed and skipped (what Home Assistant does with
max_retries 0).  Prints "acked=A failed=F" at the end.
"""
import argparse
import sys
import time

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError
import requests


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("db")
    ap.add_argument("acked")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--tag", default="t")
    ap.add_argument("--start-ns", type=int, default=1700000000000000000)
    ap.add_argument("--retry", action="store_true")
    ap.add_argument("--empty-first", action="store_true")
    a = ap.parse_args()

    # Home Assistant's defaults: root:root, database home_assistant
    c = InfluxDBClient(host="127.0.0.1", port=a.port, username="root",
                       password="root", database=a.db, timeout=10, retries=1)
    if a.empty_first:
        c.write_points([])          # HA's start-up check: must not raise
    acked = failed = 0
    with open(a.acked, "a") as out:
        for b in range(a.batches):
            pts = []
            for i in range(a.size):
                k = b * a.size + i
                ent = "sensor.%s_%d" % (a.tag, k % 25)
                pts.append({
                    "measurement": "°C" if k % 3 else "W",
                    "tags": {"domain": "sensor", "entity_id": ent},
                    "fields": {"value": k * 0.5 + 0.25,
                               "friendly_name_str": "Room %d" % (k % 25)},
                    "time": a.start_ns + k * 1000,
                })
            while True:
                try:
                    c.write_points(pts, time_precision="n")
                    acked += 1
                    for p in pts:
                        out.write("%s %d %r\n" % (p["tags"]["entity_id"], p["time"],
                                                  p["fields"]["value"]))
                    out.flush()
                    break
                except (requests.exceptions.ConnectionError, InfluxDBServerError,
                        requests.exceptions.Timeout) as e:
                    if not a.retry:
                        failed += 1
                        break
                    time.sleep(0.2)
                except InfluxDBClientError as e:
                    print("batch %d refused: %s" % (b, e), file=sys.stderr)
                    failed += 1
                    break
    print("acked=%d failed=%d" % (acked, failed))


if __name__ == "__main__":
    main()
