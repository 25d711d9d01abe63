"""Plain Django views of the API: what answers a path that no endpoint serves."""

from __future__ import annotations

from django.http import JsonResponse

from .errors import error_body


def unknown_endpoint(request, *args, **kwargs):
    return JsonResponse(error_body("not_found", f"no API endpoint at {request.path}",
                                   "the API is under /api/v1/; see /api/v1/docs"), status=404)
