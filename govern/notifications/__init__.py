"""Notifications: webhooks (Standard Webhooks) and e-mail for governance events, fed by the audit
trail as an outbox. Layer: services (above governance and identity, whose records it reads)."""
