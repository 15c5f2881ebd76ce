"""Each /api view declares its request model, query model and responses with ``@api_operation``.

The declaration names the same pydantic models the view parses with, so the
OpenAPI description (web.api_spec.builder) is generated from the code that runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])

OPERATION_ATTRIBUTE = "__api_operation__"

# A response body: a pydantic model, a raw JSON schema, or None for "no body" (204).
ResponseBody = type[BaseModel] | dict[str, Any] | None


@dataclass(frozen=True)
class Operation:
    """What one view accepts and returns."""

    summary: str
    responses: Mapping[int, ResponseBody]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    auth: bool = True
    description: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def api_operation(
    summary: str,
    *,
    responses: Mapping[int, ResponseBody],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    auth: bool = True,
    description: str | None = None,
    tags: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Declare a view for the OpenAPI description; the view itself is returned unchanged.

    ``errors`` lists statuses beyond those implied by the declaration: 401 when
    ``auth``, 400 and 413 for POST/PATCH/PUT/DELETE (CSRF, size), 400/422 with a
    ``body``, 422 with a ``query``, 404 with path parameters, 503 always (the
    session store may be down).
    """
    operation = Operation(
        summary=summary,
        responses=dict(responses),
        body=body,
        query=query,
        errors=tuple(errors),
        auth=auth,
        description=description,
        tags=tuple(tags),
    )

    def declare(view: F) -> F:
        setattr(view, OPERATION_ATTRIBUTE, operation)
        return view

    return declare


def operation_of(view: Callable[..., Any] | None) -> Operation | None:
    return getattr(view, OPERATION_ATTRIBUTE, None) if view is not None else None
