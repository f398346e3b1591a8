# Client wrapper around asyncio_mqtt (see the asyncio_mqtt docs).
import asyncio
import asyncio_mqtt
import asyncio_mqtt as mqtt_lib
from asyncio_mqtt import Client, MqttError
from asyncio_mqtt.error import MqttCodeError

BANNER = "built on asyncio_mqtt"
TEMPLATE = f"{BANNER} via {'asyncio_mqtt'!r}"
RAW = r'asyncio_mqtt\.Client'
DOC = """
import asyncio_mqtt
"""


def my_asyncio_mqtt_helper():
    return "helper"


def make_client(host: str) -> "asyncio_mqtt.Client":
    return asyncio_mqtt.Client(hostname=host, client_id="bridge-1")


def error_types():
    return (MqttError, MqttCodeError, mqtt_lib.MqttError)


async def pump(client: Client, topic: str):
    async with client.filtered_messages(topic) as messages:
        await client.subscribe(topic)
        async for message in messages:
            yield message.payload


def topic_for(sensor: str) -> str:
    return "sensors/" + sensor + "/state"
