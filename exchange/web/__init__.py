"""The web pages: server-rendered, Chinese-first with an English switch.

Every HTML page lives here, one package per feature (``catalogue``, ``hall``,
``bidder``, ``results``, ``console``, ``login``), each with its templates
under ``templates/<feature>/`` and its scripts and styles under ``static/``.
Pages read from every domain package, so they sit above all of them: no
domain package and no kernel module imports this package (``lint-imports``
holds that). This package itself holds what every page shares: the layout,
language, HTML errors, the shared templates (``templates/web/``) and static
files, and the assembly of the page routes (``routes.py``).
"""
