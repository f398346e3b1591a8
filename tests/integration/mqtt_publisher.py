#!/usr/bin/python3
"""mqtt_publisher.py - a sensor fleet for relay_mqtt.sh: N QoS 1 JSON
readings to devices/d<k>/telemetry, {"seq": i, "temperature": ..., "ts":
<microseconds>}, through paho-mqtt (Debian python3-paho-mqtt), reconnecting
when the broker goes away.  Every sequence number the broker acknowledged
(PUBACK) is written to ACKED, one per line; exits 0 once all N are, 1 when
they are not within --timeout seconds.

usage: mqtt_publisher.py PORT N ACKED [--start-us US] [--timeout S]
"""
import argparse
import sys
import threading
import time

import paho.mqtt.client as mqtt

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("n", type=int)
ap.add_argument("acked")
ap.add_argument("--start-us", type=int, default=1700000000000000)
ap.add_argument("--timeout", type=float, default=600)
a = ap.parse_args()

lock = threading.Lock()
mid_seq = {}
early = set()     # mids acknowledged before publish() returned them
acked = []
done = threading.Event()

c = mqtt.Client(client_id="relay-test-publisher", clean_session=False)
c.max_inflight_messages_set(100)
c.max_queued_messages_set(0)
c.reconnect_delay_set(0.1, 1)


def ack(seq):
    acked.append(seq)
    if len(acked) == a.n:
        done.set()


def on_publish(client, userdata, mid):
    # paho calls this holding its own message lock: never wait for a lock
    # that is held around publish(), which takes paho's (a deadlock)
    with lock:
        seq = mid_seq.pop(mid, None)
        if seq is None:
            early.add(mid)
        else:
            ack(seq)


c.on_publish = on_publish
c.connect("127.0.0.1", a.port, keepalive=10)
c.loop_start()
for i in range(a.n):
    payload = '{"seq":%d,"temperature":%.2f,"ts":%d}' % (i, 20 + (i % 100) / 10,
                                                          a.start_us + i)
    info = c.publish("devices/d%d/telemetry" % (i % 10), payload, qos=1)
    with lock:
        if info.mid in early:
            early.discard(info.mid)
            ack(i)
        else:
            mid_seq[info.mid] = i
ok = done.wait(a.timeout)
c.loop_stop()
with open(a.acked, "w") as f:
    for s in acked:
        f.write("%d\n" % s)
print("acked=%d of %d" % (len(acked), a.n))
sys.exit(0 if ok else 1)
