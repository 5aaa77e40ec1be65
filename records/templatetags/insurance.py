from django import template

from records import insurance

register = template.Library()


@register.filter
def money(value, currency: str) -> str:
    """An amount (a Decimal or the exact text a record holds) the active language's way; "—" when unknown."""
    if isinstance(value, str):
        value = insurance.amount(value)
    return insurance.money(value, currency) or "—"
