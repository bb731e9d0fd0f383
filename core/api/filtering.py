from django_filters import rest_framework as filters


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter, skipped when the request names none of the filterset's parameters.

    A FilterSet deep-copies all its filters and builds a form on every request; when no
    parameter is one of its own (a plain page of a list) it would return the queryset
    unchanged, so that work is not done. Range filters' `<name>_min`, `<name>_after`... count
    as their filter's parameters.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        names = filterset_class.base_filters.keys()
        if not any(param == name or param.startswith(f"{name}_") for param in request.query_params for name in names):
            return queryset
        return super().filter_queryset(request, queryset, view)
