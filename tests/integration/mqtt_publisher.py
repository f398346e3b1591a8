#!/usr/bin/python3
"""mqtt_publisher.py - a sensor fleet for relay_mqtt.sh: N QoS 1 JSON
readings to devices/d<k>/telemetry, {"seq": i, "temperature": ..., "ts":
<microseconds>}, through paho-mqtt (Debian python3-paho-mqtt), reconnecting
when the broker goes away.  Every sequence number the broker acknowledged
(PUBACK) is written to ACKED, one per line; exits 0 once all N are, 1 when
they are not within --timeout seconds.

usage: mqtt_publisher.py PORT N ACKED [--start-us US] [--timeout S]
       [--rate MSGS_PER_S] [--pt] [--client-id ID]
--rate paces the publishing (default: as fast as paho goes); --pt adds
"pt", the publish time in microseconds since the epoch (bench/relay_mqtt
measures publish-to-commit with it).
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
ap.add_argument("--rate", type=float, default=0)
ap.add_argument("--pt", action="store_true")
ap.add_argument("--client-id", default="relay-test-publisher")
a = ap.parse_args()

lock = threading.Lock()
room = threading.Condition(lock)
# paho numbers messages 1..65535 and queues without bound (max_queued 0)
# while the broker is away: at most OUTSTANDING unacknowledged, so that a
# message id is never handed out twice while its first holder waits
OUTSTANDING = 20000
mid_seq = {}
early = set()     # mids acknowledged before publish() returned them
acked = []
done = threading.Event()

c = mqtt.Client(client_id=a.client_id, clean_session=False)
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
        room.notify_all()


c.on_publish = on_publish
c.connect("127.0.0.1", a.port, keepalive=10)
c.loop_start()
t0 = time.time()
for i in range(a.n):
    if a.rate and i % 50 == 0:
        ahead = t0 + i / a.rate - time.time()
        if ahead > 0:
            time.sleep(ahead)
    pt = ',"pt":%d' % int(time.time() * 1e6) if a.pt else ""
    payload = '{"seq":%d,"temperature":%.2f,"ts":%d%s}' % (i, 20 + (i % 100) / 10,
                                                            a.start_us + i, pt)
    with lock:
        while i - len(acked) >= OUTSTANDING:
            room.wait(1)
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
