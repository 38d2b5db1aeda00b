"""Rendering Jinja2 templates for ``files.template``, at plan time on the controller.

Templates are compiled once per (path, mtime) and rendered with
``StrictUndefined``, so a missing variable is an error, never an empty string.
Errors become :class:`~paracrine.errors.TemplateError` whose message starts
with the template's ``file:line:`` (the included template's, when the error is
in an include).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import jinja2

from paracrine.errors import TemplateError

UNDEFINED_HINT = "define it in host data or pass it to files.template (variables= or a keyword argument)"

_environments: dict[str, jinja2.Environment] = {}
_compiled: dict[str, tuple[int, jinja2.Template]] = {}


def _environment(directory: str) -> jinja2.Environment:
    """The environment of templates in ``directory`` (includes are looked up there)."""
    env = _environments.get(directory)
    if env is None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        _environments[directory] = env
    return env


def _shown(filename: str | None, fallback: str) -> str:
    """A template path as the user knows it: relative to the current directory when inside it."""
    if not filename:
        return fallback
    relative = os.path.relpath(filename)
    return filename if relative.startswith("..") else relative


def _innermost_template_frame(tb: TracebackType | None) -> tuple[str, int] | None:
    """File and line of the innermost template frame (Jinja rewrites tracebacks to show them)."""
    found = None
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def load(path: str) -> jinja2.Template:
    """The compiled template at absolute ``path`` (recompiled when its mtime changes).

    Args:
        path: an absolute path to an existing template file.

    Raises:
        TemplateError: the template (or a template it extends) does not parse.
    """
    mtime = os.stat(path).st_mtime_ns
    cached = _compiled.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        template = _environment(os.path.dirname(path)).get_template(os.path.basename(path))
    except jinja2.TemplateSyntaxError as exc:
        where = f"{_shown(exc.filename, path)}:{exc.lineno}"
        raise TemplateError(f"{where}: syntax error: {exc.message}", hint="fix the template") from None
    _compiled[path] = (mtime, template)
    return template


def render(path: str, variables: Mapping[str, Any]) -> str:
    """Render the template at absolute ``path`` with ``variables``.

    Args:
        path: an absolute path to an existing template file.
        variables: the names the template sees.

    Raises:
        TemplateError: ``file:line: what is wrong`` for an undefined variable,
            a syntax error (also in an include) or a missing included template.

    Example:
        >>> render("/srv/deploy/templates/site.j2", {"port": 8080})  # doctest: +SKIP
    """
    template = load(path)
    try:
        return template.render(**variables)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{_shown(exc.filename, path)}:{exc.lineno}"
        raise TemplateError(f"{where}: syntax error: {exc.message}", hint="fix the template") from None
    except jinja2.TemplateNotFound as exc:
        where = _where(exc, path)
        raise TemplateError(
            f"{where}: template {exc.name!r} not found", hint=f"includes are looked up in {os.path.dirname(path)}"
        ) from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{_where(exc, path)}: {exc.message}", hint=UNDEFINED_HINT) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(f"{_where(exc, path)}: {type(exc).__name__}: {exc}", hint="fix the template") from None


def _where(exc: BaseException, path: str) -> str:
    frame = _innermost_template_frame(exc.__traceback__)
    if frame is None:
        return _shown(path, path)
    return f"{_shown(frame[0], path)}:{frame[1]}"
