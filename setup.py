"""Kept for ``scrapyd-deploy``, which builds its egg through setup.py.

The metadata lives in pyproject.toml.
"""

from setuptools import setup

setup()
