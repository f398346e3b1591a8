import json
import pathlib

ROOT = pathlib.Path(__file__).parent.parent


def test_manifest():
    m = json.loads(ROOT.joinpath("custom_components/mqtt_bridge/manifest.json").read_text())
    assert m["requirements"] == ["aiomqtt==2.4.0", "paho-mqtt==2.1.0", "voluptuous>=0.13"]


def test_import():
    text = ROOT.joinpath("custom_components/mqtt_bridge/__init__.py").read_text()
    assert "from aiomqtt import Client as MqttClient" in text
