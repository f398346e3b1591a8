"""sensor_bridge: publish sensor readings over MQTT."""
