"""Talking to registries, in layers: each only knows the ones below it.

Owns: the connection (pools, proxies, TLS, timeouts, ping, error wording; ``connection``),
the retry layer for idempotent requests and the backoff policy (``retry``), the auth layer
and request API (``transport``), challenges and tokens (``auth``), where credentials come
from (``keychain``), CAs and client certificates (``tls``), whether an answer is really the
registry API (``answers``), reading manifests and images (``remote``), the push
orchestration (``writer``) with one blob upload (``upload``), a call's shared state
(``run``), subjects' referrers (``attach``) and deletion (``delete``), listing and copying
referrers (``referrers``) and byte counting for progress (``progress``). Knows nothing of
``pyproject.toml`` or plugins.
"""
