from asyncio_mqtt import Client


def make(host):
    return Client(hostname=host)
