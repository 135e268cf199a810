"""FHIR R4 mapping, sans-I/O: one module per resource (``to_fhir``/``from_fhir``), Bundles, codes.

Map a record with its module's ``to_fhir``; wrap it in a request with ``bundle.create`` (conditional
POST) or ``bundle.put`` (PUT to a client id, ``If-Match`` for updates); send ``bundle.transaction``
written by ``wire.dumps``; read the answer with ``bundle.parse_response``.
"""
