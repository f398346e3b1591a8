import ast
import pathlib

ROOT = pathlib.Path(__file__).parent.parent


def test_setup_py():
    text = ROOT.joinpath("setup.py").read_text()
    tree = ast.parse(text)
    lists = [ast.literal_eval(n) for n in ast.walk(tree) if isinstance(n, ast.List)
             and all(isinstance(e, ast.Constant) for e in n.elts)]
    flat = [x for lst in lists for x in lst]
    assert "aiomqtt==2.4.0" in flat
    assert "paho-mqtt==2.1.0" in flat
    assert "aiomqtt[ws]==2.4.0" in flat
    assert "import aiomqtt" in text
