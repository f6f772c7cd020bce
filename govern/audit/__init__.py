"""The tamper-evident audit trail. Layer: services."""
