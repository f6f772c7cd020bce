"""The decision path and its log: per-process runtime, group-commit writer, queries.

Layer: services (above policy and identity, whose answers it records)."""
