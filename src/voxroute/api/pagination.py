"""One page of a list endpoint: `limit` (1-200, default 50) and `offset`.

The body stays a JSON array, and a `Link: <…>; rel="next"` header names the next page while
there is one.

Every list endpoint takes `PageDep` and passes its query through `Page.apply`, which fetches
one row more than asked to learn whether a next page exists without a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response
from sqlalchemy import Select

from voxroute.api.params import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, QueryInt

MAX_OFFSET = 1_000_000
T = TypeVar("T")
LINK_HEADER = {
    "Link": {
        "description": 'the next page, `<url>; rel="next"`, while there is one',
        "schema": {"type": "string"},
    }
}


@dataclass(frozen=True, slots=True)
class Page:
    """The request's `limit` and `offset`, applied to a list query and its `Link` header."""

    limit: int
    offset: int
    request: Request
    response: Response

    @property
    def fetch(self) -> int:
        """Rows to fetch: one more than the page, to learn whether another follows."""
        return self.limit + 1

    def apply(self, query: Select[Any]) -> Select[Any]:
        return query.limit(self.fetch).offset(self.offset)

    def rows(self, rows: Sequence[T]) -> list[T]:
        """The page's rows; sets the `Link` header when a next page exists."""
        if len(rows) > self.limit:
            url = self.request.url.include_query_params(
                limit=self.limit, offset=self.offset + self.limit
            )
            self.response.headers["Link"] = f'<{url}>; rel="next"'
        return list(rows[: self.limit])


def _page(
    request: Request,
    response: Response,
    limit: Annotated[
        QueryInt, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")
    ] = DEFAULT_PAGE_SIZE,
    offset: Annotated[QueryInt, Query(ge=0, le=MAX_OFFSET, description="rows to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset, request=request, response=response)


PageDep = Annotated[Page, Depends(_page)]
