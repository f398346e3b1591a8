def parse(line: str) -> float:
    return float(line.split("=", 1)[1])
