"""Object-level authorization (OWASP API1, BOLA): users reach only their own sites' records.

Master batch records are not site-bound (one process, many plants); they are visible by
product line: a user assigned to product lines sees the MBRs of those lines and those
without a line; a user assigned to none sees every MBR. Models declare
`product_line_lookup` for that.

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
    # The membership table alone: the same ids as user.sites.all(), one join less to plan.
    from django.contrib.auth import get_user_model

    memberships = get_user_model().sites.through.objects.filter(user_id=user.pk).values("site_id")
    return queryset.filter(**{f"{site_lookup}__in": memberships})


def scope_to_user_product_lines(queryset, user, product_line_lookup):
    if product_line_lookup is None or user is None or user.is_superuser:
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    from django.db.models import Exists, Q

    assignments = user.product_lines.through.objects.filter(user_id=user.pk)
    return queryset.filter(
        ~Exists(assignments)
        | Q(**{f"{product_line_lookup}__isnull": True})
        | Q(**{f"{product_line_lookup}__in": assignments.values("productline_id")})
    )


def visible_to(queryset, user, site_lookup=None):
    """`queryset` narrowed to what `user` may see: own sites, own product lines."""
    model = queryset.model
    queryset = scope_to_user_sites(queryset, user, site_lookup or getattr(model, "site_lookup", None))
    return scope_to_user_product_lines(queryset, user, getattr(model, "product_line_lookup", None))


def scope_relation_choices(fields, user):
    """Restrict the querysets of related fields (single and many) to the user's sites."""
    from rest_framework.relations import ManyRelatedField

    for field in fields.values():
        target = field.child_relation if isinstance(field, ManyRelatedField) else field
        queryset = getattr(target, "queryset", None)
        if queryset is not None and user is not None:
            target.queryset = visible_to(queryset, user)
    return fields
