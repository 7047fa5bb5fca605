"""URLs in SQL: the parts of a URL column the features compare (both engines: RE2 regexes)."""

from __future__ import annotations

# A landing page's campaign tag in its query (group 1): what a buyer gives each seller.
TAG_RE = r"[?&](?:utm_source|utm_campaign|from|channel|source)=([^&#]+)"
URL_HOST_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:]+)"  # group 1: the host (RE2 and Python re)


def tag_sql(alias: str = "e") -> str:
    """The campaign a page view was bought through: the ``source`` column, else the tag in its
    URL's query (null for neither)."""
    return f"coalesce({alias}.source, nullif(regexp_extract({alias}.url, '{TAG_RE}', 1), ''))"


def host_sql(column: str) -> str:
    """The lower-cased host of a URL column (null for a path without one)."""
    return f"lower(nullif(regexp_extract({column}, '{URL_HOST_RE}', 1), ''))"


def _without_origin(column: str) -> str:
    return f"regexp_replace({column}, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', '')"


def path_sql(column: str) -> str:
    """The path of a URL column (or of a bare path), without query or fragment."""
    rest = _without_origin(column)
    return f"coalesce(nullif(regexp_extract({rest}, '^([^?#]*)', 1), ''), '/')"


def page_sql(column: str) -> str:
    """A URL's path and query, without scheme, host or fragment (a bare path stays as it is):
    what a referrer and the request it names have in common."""
    rest = _without_origin(column)
    return f"coalesce(nullif(regexp_extract({rest}, '^([^#]*)', 1), ''), '/')"
