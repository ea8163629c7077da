"""The template's Python (copier loads context.py and filters.py by path, see copier.yml).

A package only so that dockwright's own tooling can `from extensions import context, rules`.
"""
