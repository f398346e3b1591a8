import configparser
import pathlib

ROOT = pathlib.Path(__file__).parent.parent


def test_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    req = [x for x in cfg["options"]["install_requires"].splitlines() if x and not x.startswith("#")]
    assert "aiomqtt==2.4.0" in req
    assert "paho-mqtt==2.1.0" in req
    assert cfg["options.extras_require"]["mqtt"].strip() == "aiomqtt[ws]==2.4.0"
