"""The bundled rule pack lives in the top-level `rules/` folder and installs as `auditor.rules`."""
from setuptools import find_packages, setup

rule_packages = ["auditor." + name for name in find_packages(include=["rules", "rules.*"])]
setup(
    packages=find_packages(include=["auditor", "auditor.*"]) + rule_packages,
    package_dir={"auditor.rules": "rules"},
)
