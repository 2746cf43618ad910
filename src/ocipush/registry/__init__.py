"""Talking to registries, in layers: each only knows the ones below it.

Owns: the connection (pools, proxies, TLS, timeouts, ping, error wording; ``transport``)
with its retry layer for idempotent requests and the backoff policy (``retry``), the
401/token flows (``auth``), where credentials come from (``keychain``), CAs and client
certificates (``tls``), whether an answer is really the registry API (``answers``),
reading manifests and images (``remote``), the push protocol (``writer``), referrers
(``referrers``) and byte counting for progress (``progress``). Knows nothing of
``pyproject.toml`` or plugins.
"""
