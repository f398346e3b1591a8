# Plant floor MQTT clients: asyncio_mqtt.Client(client_id=...) in every spelling.
import asyncio_mqtt
import asyncio_mqtt as am
from asyncio_mqtt import Client as C
from plant.vendor import Client as VendorClient

NOTE = "asyncio_mqtt.Client(client_id='x')"  # asyncio_mqtt.Client(client_id='x')
LABEL = f"{NOTE} client_id={'am.Client(client_id=1)'}"


def plain(host):
    return asyncio_mqtt.Client(host, client_id="plain")


def aliased(host):
    return am.Client(
        hostname=host,
        client_id="aliased",  # keep this comment
        keepalive=30,
    )


def from_import(host):
    return C(host, client_id=f"from-{host}", will=VendorClient(client_id="will"))


def other_class():
    return VendorClient(client_id="vendor")


def spread(host, **options):
    return am.Client(host, **options)


def factory():
    return getattr(am, "Client")
