from setuptools import find_packages, setup

import asyncio_mqtt  # noqa: F401  (checked at build time)

REQUIRES = [
    "aiohttp>=3.9",
    "asyncio-mqtt>=0.16.1",  # MQTT
]

setup(
    name="pump",
    version="2.0.1",
    packages=find_packages("src"),
    package_dir={"": "src"},
    install_requires=REQUIRES,
    extras_require={"mqtt": ['asyncio_mqtt[ws]']},
)
