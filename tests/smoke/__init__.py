"""Docker smoke suite (pytest -m docker): build and run generated projects for real.

A package on purpose: its conftest.py is then imported as `smoke.conftest` and does not
replace tests/conftest.py in sys.modules (the other test modules `from conftest import ...`).
"""
