from django.contrib import admin
from django.urls import include, path

from eflux.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("stations.urls")),
    path("", include("billing.urls")),
]
