"""The tenant API described as an OpenAPI 3.1 document (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

_AUTH = [{"bearer": []}, {"apiKey": []}]
_EVALUATION = {
    "type": "object",
    "required": ["key", "value", "reason", "variant"],
    "properties": {
        "key": {"type": "string"},
        "value": {"description": "a boolean (switch), a string (mode) or an object ({key}.config)"},
        "reason": {"type": "string", "enum": ["STATIC", "TARGETING_MATCH", "DISABLED"]},
        "variant": {"type": "string"},
        "metadata": {"type": "object", "properties": {"source": {"type": "string"}, "category": {"type": "string"}}},
    },
}
_ERROR = {"type": "object", "properties": {"key": {"type": "string"}, "errorCode": {"type": "string"}, "errorDetails": {"type": "string"}}}
_CONTEXT = {"content": {"application/json": {"schema": {"type": "object", "properties": {"context": {"type": "object"}}}}}}
_STATUSES = {
    "401": {"description": "no API token, or an unknown or revoked one (no body)"},
    "403": {"description": "the tenant is suspended or cancelled (no body)"},
    "429": {"description": "rate limited; see Retry-After"},
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "tenantctl tenant API", "version": "1.0.0",
             "description": "A tenant's feature flags over OFREP 0.3.0, and its own data. Authenticate with the tenant's API token."},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                       "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
    "security": _AUTH,
    "paths": {
        "/ofrep/v1/evaluate/flags/{key}": {"post": {
            "summary": "Evaluate one flag", "requestBody": _CONTEXT,
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json("the flag", _EVALUATION), "400": _json("PARSE_ERROR or INVALID_CONTEXT", _ERROR),
                          "404": _json("FLAG_NOT_FOUND", _ERROR), **_STATUSES}}},
        "/ofrep/v1/evaluate/flags": {"post": {
            "summary": "Evaluate every flag", "requestBody": _CONTEXT,
            "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
            "responses": {"200": _json("every flag, with an ETag", {"type": "object", "properties": {"flags": {"type": "array", "items": _EVALUATION}}}),
                          "304": {"description": "unchanged since the ETag given"}, "400": _json("PARSE_ERROR or INVALID_CONTEXT", _ERROR),
                          **_STATUSES}}},
        "/api/v1/tenant": {"get": {"summary": "The tenant: status, plan, end date",
                                   "responses": {"200": _json("the tenant", {"type": "object"}), **_STATUSES}}},
        "/api/v1/features": {"get": {"summary": "Each feature's effective value and source",
                                     "responses": {"200": _json("features", {"type": "array"}), **_STATUSES}}},
        "/api/v1/stats": {"get": {
            "summary": "Users, and the last 30 days' income (kopeks) and traffic (bytes)",
            "parameters": [{"name": "period", "in": "query", "schema": {"type": "string", "enum": ["30d"]}}],
            "responses": {"200": _json("statistics", {"type": "object"}), "400": _json("unknown period", {"type": "object"}), **_STATUSES}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    },
}
