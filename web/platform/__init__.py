"""Shared plumbing: database, server-side session store, security, metrics, logging, health, API description."""
