#!/usr/bin/python3
"""cutover_writer.py - the live writer of the cutover tests.

    cutover_writer.py PORT ACKED STOP [SECS]

Home Assistant's way: a batch of 10 points (measurement W, entity_id
sensor.live_0..9) every SECS (default 0.1) s stamped now, through python3-influxdb's
client; 204 or a failure.  The acknowledged points' keys go to ACKED
("entity_id time_ns" lines, flushed).  Stops when the file STOP exists,
or when the test that started it is gone.  Prints "acked=A failed=F".
"""
import os
import sys
import time

from influxdb import InfluxDBClient

port, acked, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
c = InfluxDBClient(host="127.0.0.1", port=port, username="root", password="root",
                   database="home_assistant", timeout=10, retries=1)
n = ok = bad = 0
parent = os.getppid()
with open(acked, "a") as out:
    while not os.path.exists(stop) and os.getppid() == parent:
        now = time.time_ns() // 1000 * 1000
        pts = [{"measurement": "W", "tags": {"domain": "sensor", "entity_id": "sensor.live_%d" % i},
                "fields": {"value": float(n + i)}, "time": now} for i in range(10)]
        n += 10
        try:
            c.write_points(pts, time_precision="n")
            ok += 1
            for p in pts:
                out.write("%s %d\n" % (p["tags"]["entity_id"], now))
            out.flush()
        except Exception as e:
            bad += 1
            print("write failed: %s" % e, file=sys.stderr)
        time.sleep(pause)
print("acked=%d failed=%d" % (ok, bad))
