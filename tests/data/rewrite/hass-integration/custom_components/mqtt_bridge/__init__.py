"""MQTT bridge integration."""
from asyncio_mqtt import Client as MqttClient

DOMAIN = "mqtt_bridge"
