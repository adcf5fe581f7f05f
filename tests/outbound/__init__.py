# A package, so that pytest imports tests/outbound/conftest.py as "outbound.conftest":
# as a plain "conftest" it would replace tests/conftest.py in sys.modules, and every
# `from conftest import ...` collected after it would find the wrong file.
