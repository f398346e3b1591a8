"""Test stub: just enough of the MQTT client API to import the bridge."""


class MqttError(Exception):
    pass


class Client:
    def __init__(self, hostname, **kwargs):
        self.hostname = hostname
        self.kwargs = kwargs
