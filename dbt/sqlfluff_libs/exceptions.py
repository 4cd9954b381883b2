"""Stand-in for dbt's `exceptions` context object when sqlfluff renders models (lint only)."""


def warn(message: str) -> str:
    return ""


def raise_compiler_error(message: str) -> str:
    return ""
