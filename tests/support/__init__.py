"""Code the test modules share: chat models, server stand-ins, fixtures, the Redis kinds.

``tests/`` is on ``sys.path`` (pytest's "prepend" import mode puts the directory
of ``tests/conftest.py`` there), so test modules import these as ``support.<name>``.
"""
