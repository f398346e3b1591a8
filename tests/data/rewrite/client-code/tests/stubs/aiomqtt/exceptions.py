from . import MqttError


class MqttCodeError(MqttError):
    pass
