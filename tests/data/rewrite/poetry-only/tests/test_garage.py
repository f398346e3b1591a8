import pathlib
import tomllib

ROOT = pathlib.Path(__file__).parent.parent


def test_poetry_declares_aiomqtt():
    doc = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())
    deps = doc["tool"]["poetry"]["dependencies"]
    assert deps["aiomqtt"] == "2.4.0"
    assert deps["paho-mqtt"] == "2.1.0"
    dev = doc["tool"]["poetry"]["group"]["dev"]["dependencies"]
    assert dev["aiomqtt"]["version"] == "2.4.0"
    assert dev["aiomqtt"]["markers"] == "sys_platform == 'linux'"
    assert doc["tool"]["poetry"]["extras"]["mqtt"] == ["aiomqtt"]
    bridge = doc["tool"]["poetry"]["group"]["bridge"]["dependencies"]
    assert bridge["aiomqtt"] == {"version": "2.4.0", "optional": True}


def test_no_asyncio_mqtt_left():
    text = ROOT.joinpath("pyproject.toml").read_text().lower().replace("_", "-")
    assert "asyncio-mqtt" not in text


def test_imports():
    text = ROOT.joinpath("src/garage/__init__.py").read_text()
    assert "import aiomqtt as mqtt" in text
