"""Preparedness governance: scorecards, gates, Safety Advisory Group reviews, sign-offs, board
reversals and the kill switch, and the access facts they give the policy snapshot. Layer: services."""
