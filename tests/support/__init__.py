"""Test helpers: a fault-injecting proxy, a token server, a throwaway PKI and witness tools.

Import as ``support.<module>``: ``tests/`` is on ``sys.path`` because it holds ``conftest.py``.
"""

#: The account of the session's ``htpasswd_registry`` fixture.
HTPASSWD_USER = "alice"
HTPASSWD_PASSWORD = "s3cret-pw"
