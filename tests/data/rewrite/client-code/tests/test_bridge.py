from sensor_bridge import mqtt


def test_topic():
    assert mqtt.topic_for("kitchen") == "sensors/kitchen/state"


def test_client_is_built():
    client = mqtt.make_client("broker.local")
    assert client.hostname == "broker.local"


def test_error_types_are_exceptions():
    assert all(issubclass(t, Exception) for t in mqtt.error_types())


def test_strings_untouched():
    # the rewrite must never touch text inside strings
    assert mqtt.BANNER == "built on asyncio_mqtt"
    assert mqtt.RAW == r'asyncio_mqtt\.Client'
    assert mqtt.my_asyncio_mqtt_helper() == "helper"
