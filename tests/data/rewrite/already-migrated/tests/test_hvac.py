import pathlib


def test_requirements_pin_aiomqtt():
    text = pathlib.Path(__file__).parent.parent.joinpath("requirements.txt").read_text()
    assert "aiomqtt==2.4.0" in text
