"""Test stub of asyncio-mqtt 0.16: Client takes client_id."""


class Client:
    def __init__(self, hostname, port=1883, *, client_id=None, keepalive=60, will=None):
        self.hostname = hostname
        self.name = client_id
        self.will = will
