#!/usr/bin/python3
"""mqtt_py_subscriber.py - the MQTT ingest users write before ferry (the
seed-style service): paho-mqtt subscribes to devices/+/telemetry at QoS 1
and inserts every message with psycopg2, one INSERT and commit per
message, for SECONDS; prints how many messages it stored.

usage: mqtt_py_subscriber.py MQTT_PORT PG_DSN SECONDS
"""
import json
import sys
import time

import paho.mqtt.client as mqtt
import psycopg2

port, dsn, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
db = psycopg2.connect(dsn)
cur = db.cursor()
cur.execute("""CREATE TABLE IF NOT EXISTS readings (time timestamptz NOT NULL,
    device_id text NOT NULL, data jsonb NOT NULL)""")
db.commit()
stored = 0


def on_message(client, userdata, msg):
    global stored
    d = json.loads(msg.payload)
    cur.execute("INSERT INTO readings (time, device_id, data) "
                "VALUES (to_timestamp(%s / 1e6), %s, %s)",
                (d.pop("ts"), msg.topic.split("/")[1], json.dumps(d)))
    db.commit()
    stored += 1


c = mqtt.Client(client_id="bench-py-subscriber", clean_session=True)
c.on_message = on_message
c.on_connect = lambda cl, ud, fl, rc: cl.subscribe("devices/+/telemetry", qos=1)
c.connect("127.0.0.1", port)
c.loop_start()
time.sleep(seconds)
c.loop_stop()
print(stored)
