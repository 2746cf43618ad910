"""Talking to registries, in layers: each only knows the ones below it.

Owns: the connection (pools, proxies, TLS, timeouts, ping, error wording; ``connection``),
the retry layer for idempotent requests and the backoff policy (``retry``), the client's
one options object (``options``), the client and its auth layer (``transport``),
per-repository sessions that every request goes through (``session``), challenges and
tokens (``auth``), what credentials are (``credentials``), where they come from
(``keychain``), docker's and podman's credential files and helpers, login and logout
(``authfiles``), CAs and client certificates (``tls``), whether an answer is really the
registry API (``answers``), reading manifests and images (``remote``), the push
orchestration (``writer``) with one blob upload (``upload``), one manifest PUT
(``manifests``), a call's shared state (``run``), subjects' referrers (``attach``) and
deletion (``delete``), listing and copying referrers (``referrers``) and byte counting for
progress (``progress``). Knows nothing of ``pyproject.toml`` or plugins.
"""
