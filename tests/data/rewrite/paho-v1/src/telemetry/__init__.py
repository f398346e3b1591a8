"""Telemetry: publish sensor readings over MQTT and collect them back."""
