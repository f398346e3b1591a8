"""Round trip through a real broker (FERRY_MQTT_HOST/FERRY_MQTT_PORT) with
the service's own clients and callbacks; runs under pytest or unittest."""
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
from telemetry import mqtt as tm  # noqa: E402

HOST = os.environ.get("FERRY_MQTT_HOST", "127.0.0.1")
PORT = int(os.environ.get("FERRY_MQTT_PORT", "0") or 0)
WAIT = 30


@unittest.skipUnless(PORT, "FERRY_MQTT_PORT is not set: no broker to talk to")
class RoundTrip(unittest.TestCase):
    def test_publish_and_receive(self):
        topic = tm.topic_for("kitchen-" + uuid.uuid4().hex[:8])
        sub_c, pub_c = tm.Collector(), tm.Collector()
        sub = tm.subscriber(sub_c)
        pub = tm.publisher("telemetry-pub", pub_c)
        sub.connect(HOST, PORT)
        sub.loop_start()
        try:
            self.assertTrue(sub_c.connected.wait(WAIT), "subscriber on_connect")
            self.assertEqual(sub_c.rc, 0)
            sub.subscribe(topic, qos=1)
            self.assertTrue(sub_c.subscribed.wait(WAIT), "on_subscribe")
            self.assertEqual(sub_c.granted, [1])
            pub.connect(HOST, PORT)
            pub.loop_start()
            try:
                self.assertTrue(pub_c.connected.wait(WAIT), "publisher on_connect")
                pub.publish(topic, b"21.5", qos=1)
                self.assertTrue(pub_c.published.wait(WAIT), "on_publish")
            finally:
                pub.disconnect()
                pub.loop_stop()
            self.assertTrue(sub_c.got.wait(WAIT), "on_message")
            self.assertEqual(sub_c.messages, [(topic, b"21.5")])
        finally:
            sub.disconnect()
            sub.loop_stop()


class Offline(unittest.TestCase):
    def test_clients_are_built(self):
        c = tm.Collector()
        self.assertIsNotNone(tm.publisher("p", c))
        self.assertIsNotNone(tm.subscriber(c))

    def test_topic(self):
        self.assertEqual(tm.topic_for("x"), "telemetry/x")

    def test_strings_untouched(self):
        self.assertEqual(tm.BANNER, "mqtt.Client(client_id) from paho.mqtt.client")


if __name__ == "__main__":
    unittest.main()
