"""Integrations that run inside other programs and talk to govern over HTTP only (a LiteLLM proxy's
hooks: govern.integrations.litellm). Layer: outside govern's layers; nothing of govern imports them,
so their optional dependencies are never needed by govern itself."""
