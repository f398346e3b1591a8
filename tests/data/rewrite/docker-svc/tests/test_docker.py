import pathlib
import shlex

ROOT = pathlib.Path(__file__).parent.parent


def test_dockerfile():
    text = ROOT.joinpath("Dockerfile").read_text()
    run = text.split("RUN ", 1)[1].split("\nCOPY", 1)[0].replace("\\\n", " ")
    words = shlex.split(run)
    assert words.count("aiomqtt==2.4.0") == 2
    assert words.count("paho-mqtt==2.1.0") == 1  # after the first only
    assert not any("asyncio" in w for w in words)
