from django import template

from records.selectors import KIND_BY_MODEL

register = template.Library()


@register.filter
def record_kind(record) -> str:
    """The URL slug of a record's kind."""
    return KIND_BY_MODEL[type(record)]
