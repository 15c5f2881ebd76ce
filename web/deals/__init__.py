"""Deals: models, the permission rule, the service, the JSON API, the pages, notes and members."""
