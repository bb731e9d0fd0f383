from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from users.api.urls import auth_urlpatterns

admin.site.site_header = "EBR records administration"
admin.site.site_title = "EBR admin"

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/auth/", include(auth_urlpatterns)),
    path("api/users/", include("users.api.urls")),
    path("api/documents/", include("documents.api.urls")),
    path("api/equipment/", include("equipment.api.urls")),
    path("api/inventory/", include("inventory.api.urls")),
    path("api/deviations/", include("deviations.api.urls")),
    path("api/capa/", include("capa.api.urls")),
    path("api/batch_records/serials/", include("serials.api.urls")),
    path("api/batch_records/", include("batch_records.api.urls")),
    path("api/events/", include("events.api.urls")),
    path("api/orders/", include("orders.api.urls")),
    path("api/jobs/", include("jobs.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Errors Django answers itself are JSON under /api/ (HTML pages elsewhere, for the admin).
handler400 = "core.api.exceptions.bad_request"
handler403 = "core.api.exceptions.permission_denied"
handler404 = "core.api.exceptions.page_not_found"
handler500 = "core.api.exceptions.server_error"
