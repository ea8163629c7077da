"""Docker smoke suite (pytest -m docker): build and run generated projects for real.

A package so that its conftest.py is imported as `smoke.conftest`, beside tests/conftest.py.
"""
