# MQTT plumbing on paho-mqtt 1.x callbacks (see the paho.mqtt.client docs).
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.client import Client as PahoClient, MQTTv311

BANNER = "mqtt.Client(client_id) from paho.mqtt.client"


class Collector:
    """Records what the paho callbacks report, with their 1.x signatures."""

    def __init__(self):
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.published = threading.Event()
        self.got = threading.Event()
        self.rc = None
        self.granted = None
        self.messages = []

    def on_connect(self, client, userdata, flags, rc):
        self.rc = rc
        self.connected.set()

    def on_subscribe(self, client, userdata, mid, granted_qos):
        self.granted = list(granted_qos)
        self.subscribed.set()

    def on_publish(self, client, userdata, mid):
        self.published.set()

    def on_message(self, client, userdata, message):
        self.messages.append((message.topic, message.payload))
        self.got.set()


def publisher(client_id, collector):
    client = mqtt.Client(client_id, clean_session=True)
    client.on_connect = collector.on_connect
    client.on_publish = collector.on_publish
    return client


def subscriber(collector):
    client = PahoClient(client_id="telemetry-sub", protocol=MQTTv311)
    client.on_connect = collector.on_connect
    client.on_subscribe = collector.on_subscribe
    client.on_message = collector.on_message
    return client


def topic_for(sensor):
    return "telemetry/" + sensor
