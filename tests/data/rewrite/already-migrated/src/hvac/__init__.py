# migrated from asyncio_mqtt last year
import aiomqtt


def make(host):
    return aiomqtt.Client(hostname=host, identifier="hvac")
