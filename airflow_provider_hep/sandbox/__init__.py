"""Emulate SAP Health for Patient Engagement's OAuth token endpoint and paged API for tests.

The sandbox is a TEST ORACLE: it uses only the standard library (plus ``cryptography`` for
``tls=True``) and imports nothing else from the provider. Its data is synthetic (see
:mod:`.data`), not HEP's real schema.

Endpoints: ``POST /oauth/token``; ``GET /health`` and ``/api/v1/health``; under ``/api/v1``
(bearer token required): ``patients``, ``appointments``, ``care-plans`` (lists and
``/<id>``), ``messages`` (GET, POST, PATCH, DELETE; ``Idempotency-Key``), ``exports``
(POST, GET ``/<id>``) and ``redirect?to=&code=``. Without auth: ``GET /_sandbox/stats``,
``POST /_sandbox/reset``, ``POST /_sandbox/faults``, ``GET /_sandbox/truth/<collection>``,
``POST /_sandbox/clock``. Paging flags are described in :mod:`.listing`, the fault spec
grammar in :mod:`.faults`.
"""

from __future__ import annotations

from .faults import Fault, parse_faults
from .sandbox import HepSandbox

__all__ = ["Fault", "HepSandbox", "parse_faults"]
