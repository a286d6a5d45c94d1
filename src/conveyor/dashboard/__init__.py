"""The web dashboard: static files served by the API app at ``/`` (a placeholder for now)."""
