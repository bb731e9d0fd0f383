"""The product's URLs plus the raw baseline views (benchmark server only)."""

from django.urls import path

from config.urls import urlpatterns as product_urlpatterns

from . import baselines

urlpatterns = [
    path("bench/raw/batches/", baselines.raw_batch_list),
    path("bench/raw/batches/<int:pk>/", baselines.raw_batch_detail),
    *product_urlpatterns,
]
