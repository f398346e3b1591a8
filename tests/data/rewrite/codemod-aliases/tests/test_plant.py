import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "stubs"))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
from plant import mqtt  # noqa: E402


class Clients(unittest.TestCase):
    def test_every_spelling_names_the_client(self):
        self.assertEqual(mqtt.plain("h").name, "plain")
        self.assertEqual(mqtt.aliased("h").name, "aliased")
        c = mqtt.from_import("h")
        self.assertEqual(c.name, "from-h")
        self.assertEqual(c.will.client_id, "will")

    def test_other_library_untouched(self):
        self.assertEqual(mqtt.other_class().client_id, "vendor")

    def test_strings_untouched(self):
        self.assertEqual(mqtt.NOTE, "asyncio_mqtt.Client(client_id='x')")
        self.assertIn("client_id=am.Client(client_id=1)", mqtt.LABEL)


if __name__ == "__main__":
    unittest.main()
