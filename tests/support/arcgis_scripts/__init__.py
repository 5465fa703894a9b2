"""Scripts that drive the official ``arcgis`` client; they run in the arcgis venv, not pytest's.

Run them from the repository root as modules, e.g.
``<arcgis venv>/bin/python -m tests.support.arcgis_scripts.user_side`` (see
tests/api/test_arcgis_client.py).
"""
