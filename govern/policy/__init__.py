"""Tiers, capabilities, grants: the policy document, its Casbin snapshots and its storage. Layer: services."""
