"""A service's contract and its pages: the OpenAPI document and ``/docs``, both served offline.

* :mod:`.openapi` -- the document: the bearer scheme always, ``security: []`` on open routes, the
  statuses the middlewares add to every route, and what only the loaded model can say (its id in
  the request examples, its code length, the exact shape of its codes);
* :mod:`.swagger` -- ``/docs`` with Swagger UI's assets served from an installed package (no CDN).
"""

from bitcluster.serving.docs.openapi import ContractPatch, install_openapi
from bitcluster.serving.docs.swagger import install_swagger_ui

__all__ = ["ContractPatch", "install_openapi", "install_swagger_ui"]
