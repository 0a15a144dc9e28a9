from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    # Login safety: django-axes throttles failed logins through the authentication backend.
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    # Accounts and members.
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/new/", views.account_create, name="account_create"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
    path("accounts/<int:pk>/members/", views.account_member_add, name="account_member_add"),
    path("memberships/<int:pk>/", views.membership_edit, name="membership_edit"),
    # Customer activation.
    path("activate/", views.station_activation, name="station_activation"),
    # Charge cards.
    path("cards/", views.card_list, name="card_list"),
    path("cards/new/", views.card_create, name="card_create"),
    path("cards/import/", views.card_import, name="card_import"),
    path("cards/<int:pk>/", views.card_edit, name="card_edit"),
    path("cards/<int:pk>/status/", views.card_status, name="card_status"),
    # Access groups.
    path("access-groups/", views.access_group_list, name="access_group_list"),
    path("access-groups/new/", views.access_group_create, name="access_group_create"),
    path("access-groups/<int:pk>/", views.access_group_edit, name="access_group_edit"),
    path("access-groups/<int:pk>/delete/", views.access_group_delete, name="access_group_delete"),
    path("access-groups/<int:pk>/import/", views.access_group_import, name="access_group_import"),
    # Locations.
    path("locations/", views.location_list, name="location_list"),
    path("locations/new/", views.location_create, name="location_create"),
    path("locations/<int:pk>/", views.location_edit, name="location_edit"),
    # Audit log of changes.
    path("audit/", views.audit_list, name="audit_list"),
]
