"""Object-level authorization (OWASP API1, BOLA): users reach only their own sites' records.

Site-bound models declare `site_lookup`, the path from the model to users.Site
("site", "batch__site"; "pk" for Site itself). Viewsets filter their querysets with it, and
serializers filter the choices of every relation in a payload with it, so another site's
record is 404 when addressed and "does not exist" (400) when referenced.
"""


def scope_to_user_sites(queryset, user, site_lookup):
    if site_lookup is None or user is None or user.is_superuser:
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{f"{site_lookup}__in": user.sites.all()})


def scope_relation_choices(fields, user):
    """Restrict the querysets of related fields (single and many) to the user's sites."""
    from rest_framework.relations import ManyRelatedField

    for field in fields.values():
        target = field.child_relation if isinstance(field, ManyRelatedField) else field
        queryset = getattr(target, "queryset", None)
        lookup = getattr(getattr(queryset, "model", None), "site_lookup", None)
        if queryset is not None and lookup:
            target.queryset = scope_to_user_sites(queryset, user, lookup)
    return fields
