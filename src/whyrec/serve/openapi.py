"""The OpenAPI document of one server: the static schemas, narrowed to what its models accept.

The request schemas are written once (:mod:`whyrec.serve.schemas`) with every registered method
and the largest list length; a server whose models support fewer methods, or whose smallest
catalogue is shorter, refuses the rest (:func:`whyrec.serve.deps.check_method`, ``check_n``), and
its document says so here, so that the spec is the server.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from whyrec.serve.deps import Limits


def narrowed_openapi(app: FastAPI, limits: Limits) -> dict[str, Any]:
    """`app`'s OpenAPI document with the methods and list lengths of `limits` (built once, cached)."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = document["components"]["schemas"]
        for name in ("ExplainRequest", "WhyNotRequest"):
            n = schemas[name]["properties"]["n"]
            n["maximum"] = limits.max_n
            n["default"] = min(n["default"], limits.max_n)
        method = schemas["ExplainRequest"]["properties"]["method"]
        described = {k: method[k] for k in ("description",) if k in method}
        method.clear()
        method.update({"type": "string", "enum": list(limits.methods), "title": "Method", **described})
        for parameter in document["paths"]["/insights"]["get"]["parameters"]:
            if parameter["name"] == "method":
                parameter["schema"] = {"type": "string", "enum": list(limits.fast_methods), "title": "Method"}
        app.openapi_schema = document
    return app.openapi_schema
