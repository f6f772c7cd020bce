"""Principals and their credentials: organisations, API keys, users. Layer: services."""
