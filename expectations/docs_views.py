"""The Data Docs page views: GX's own, with their compiled templates kept for the process.

GX makes a Jinja environment per view, and a site build makes new views, so every build
compiled the same page templates again: about half of rendering a run's pages. The views here
share one in-memory bytecode cache (Jinja's ``BytecodeCache`` interface), so each template is
compiled once per process; the validation process renders every run's docs. ``expectations.docs``
names these classes in the site's configuration (GX instantiates views from it).
"""
from __future__ import annotations

import jinja2
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates by Jinja's key (template name and source checksum), for the process."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = _CompiledTemplates()


class _SharedTemplates:
    """A GX Jinja view whose environment uses the process's compiled templates."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED_TEMPLATES


class CachedJinjaPageView(_SharedTemplates, DefaultJinjaPageView):
    pass


class CachedJinjaIndexPageView(_SharedTemplates, DefaultJinjaIndexPageView):
    pass
