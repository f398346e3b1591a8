#!/usr/bin/python3
# bench/influx_target_py.py - the baseline of `bench/influx --target
# influx`: the InfluxDB -> InfluxDB layout migration a user writes by hand
# (the seeds' "optimized schema" ingestor: influxdb client, query a
# measurement, transform each point, write_points in batches of 1000),
# moving Home Assistant's layout (a measurement per unit, domain and
# entity_id tags) to the per-domain layout of
# examples/maps/ha-per-domain.yaml.
#
#   /usr/bin/python3 bench/influx_target_py.py HOST PORT SOURCE_DB TARGET_DB
#
# Run with Debian's python3 (python3-influxdb).  Per measurement one
# SELECT * ... GROUP BY * (influxdb-python 5.3's chunked=True fails on the
# msgpack answers it asks for, influxdata/influxdb-python#820), epoch=ns.
# Prints "points=N" at the end.
import sys

from influxdb import InfluxDBClient

BATCH = 1000


def map_point(measurement, tags, fields, t):
    """Home Assistant's layout -> a measurement per domain: entity_id and the
    unit (the old measurement, unless it is DOMAIN.OBJECT_ID) as tags, the
    friendly_name tag as the field friendly_name_str, the other tags left
    out, fields kept (examples/maps/ha-per-domain.yaml)."""
    if not tags.get("domain") or not tags.get("entity_id"):
        return {"measurement": measurement, "tags": tags, "fields": fields, "time": t}
    out_tags = {"entity_id": tags["entity_id"]}
    if "." not in measurement:
        out_tags["unit"] = measurement
    out_fields = dict(fields)
    if tags.get("friendly_name"):
        out_fields["friendly_name_str"] = tags["friendly_name"]
    return {
        "measurement": tags["domain"],
        "tags": out_tags,
        "fields": out_fields,
        "time": t,
    }


def main():
    host, port, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    cli = InfluxDBClient(host=host, port=port, database=src)
    cli.create_database(dst)
    out = InfluxDBClient(host=host, port=port, database=dst)
    measurements = [m["name"] for m in cli.get_list_measurements()]
    n = 0
    batch = []
    for m in measurements:
        q = 'SELECT * FROM "%s" GROUP BY *' % m.replace('\\', '\\\\').replace('"', '\\"')
        rs = cli.query(q, epoch="ns")
        for (meas, tags), points in rs.items():
            tags = tags or {}
            for p in points:
                t = p.pop("time")
                fields = {k: v for k, v in p.items() if v is not None}
                if not fields:
                    continue
                batch.append(map_point(meas, tags, fields, t))
                if len(batch) >= BATCH:
                    out.write_points(batch, time_precision="n")
                    n += len(batch)
                    batch = []
    if batch:
        out.write_points(batch, time_precision="n")
        n += len(batch)
    print("points=%d" % n)


if __name__ == "__main__":
    main()
