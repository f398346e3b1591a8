from meter import parse


def test_parse():
    assert parse("kwh=12.5") == 12.5
