"""Who sees what. Every view, partial, export and admin page asks here; nowhere else decides."""


def stations_visible_to(user, queryset):
    if not user.is_authenticated:
        return queryset.none()
    if user.is_superuser or getattr(user, "is_platform_operator", False):
        return queryset
    return queryset.none()
