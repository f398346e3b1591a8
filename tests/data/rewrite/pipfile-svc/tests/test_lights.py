import pathlib
import tomllib

ROOT = pathlib.Path(__file__).parent.parent


def test_pipfile():
    doc = tomllib.loads(ROOT.joinpath("Pipfile").read_text())
    assert doc["packages"]["aiomqtt"] == "==2.4.0"
    assert doc["packages"]["paho-mqtt"] == "==2.1.0"
    assert doc["dev-packages"]["aiomqtt"]["version"] == "==2.4.0"
    assert "asyncio-mqtt" not in doc["packages"]
