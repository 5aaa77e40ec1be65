"""Template helpers for gated features: `{% load rollout %}{% feature_open "ehr-connection" as open %}`."""

from django import template

from accounts import rollout

register = template.Library()


@register.simple_tag(takes_context=True)
def feature_open(context, flag: str) -> bool:
    """Whether the signed-in user of the page has the feature (same rules as `rollout.feature_is_open`)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return user is not None and rollout.feature_is_open(user=user, flag=flag)


@register.simple_tag
def waitlist_url(flag: str) -> str:
    """The waitlist page of a gated feature."""
    return rollout.waitlist_url(flag)
