"""django-waffle: its migrations only (see migrations/__init__.py)."""
