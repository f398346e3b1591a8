"""Test stub of aiomqtt 2.x: Client takes identifier (client_id is gone)."""


class Client:
    def __init__(self, hostname, port=1883, *, identifier=None, keepalive=60, will=None):
        self.hostname = hostname
        self.name = identifier
        self.will = will
