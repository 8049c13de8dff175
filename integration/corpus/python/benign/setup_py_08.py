import os
import re

from setuptools import find_packages, setup

here = os.path.abspath(os.path.dirname(__file__))
with open(os.path.join(here, "src", "mypkg", "__init__.py")) as f:
    version = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)
with open(os.path.join(here, "README.md")) as f:
    long_description = f.read()

setup(
    name="mypkg",
    version=version,
    description="An example package",
    long_description=long_description,
    long_description_content_type="text/markdown",
    package_dir={"": "src"},
    packages=find_packages("src"),
    python_requires=">=3.9",
    install_requires=["requests>=2.31", "click>=8"],
    entry_points={"console_scripts": ["mypkg=mypkg.cli:main"]},
)
