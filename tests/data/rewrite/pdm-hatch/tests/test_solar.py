import pathlib
import tomllib

ROOT = pathlib.Path(__file__).parent.parent


def test_pyproject():
    doc = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())
    assert doc["tool"]["pdm"]["dev-dependencies"]["mqtt"] == ["aiomqtt==2.4.0", "paho-mqtt==2.1.0"]
    assert doc["tool"]["hatch"]["envs"]["default"]["dependencies"] == ["pytest", "aiomqtt==2.4.0"]
