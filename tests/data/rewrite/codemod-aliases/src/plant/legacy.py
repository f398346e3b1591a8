# Uses the codemods cannot prove: each is a warning, none is edited.
from asyncio_mqtt import Client

MAKERS = {"default": Client}


def build(Client, host):
    return Client(host, client_id="shadowed")


def through_variable(host):
    make = MAKERS["default"]
    return make(host, client_id="variable")
