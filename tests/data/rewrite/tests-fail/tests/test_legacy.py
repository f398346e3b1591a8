import pathlib

ROOT = pathlib.Path(__file__).parent.parent


def test_still_on_asyncio_mqtt():
    # this service's deployment only ships asyncio-mqtt; a migration breaks it
    assert "asyncio-mqtt" in ROOT.joinpath("requirements.txt").read_text()
    assert "from asyncio_mqtt import" in ROOT.joinpath("src/legacy/__init__.py").read_text()
