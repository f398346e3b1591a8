import asyncio_mqtt.client
