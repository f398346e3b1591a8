import asyncio_mqtt as mqtt


def client(host):
    return mqtt.Client(hostname=host)
