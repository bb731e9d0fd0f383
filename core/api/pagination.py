from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """Page-number pagination; clients choose `page_size` up to MAX_PAGE_SIZE."""

    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE
