"""OCI content and the places on this machine it can go; no network, no plugins.

Owns: digests and hashing (``digest``), media types (``media_types``), descriptors,
manifests and indexes with their exact bytes (``model``), image references (``reference``),
blob sources (``blobs``), images and indexes with their blobs (``images``), reproducible
layers (``layers``), OCI image layouts (``layout``), ``oci-archive:`` / ``docker-archive:``
tars (``archives``), local destination names (``localrefs``), loading into a local
engine (``daemon``) and what happens to a blob on its way (``policy``).
"""
