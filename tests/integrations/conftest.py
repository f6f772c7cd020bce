"""LiteLLM fetches its price list from the internet when first imported unless told to use the copy
it ships; the tests run without the internet, so say so before any test module imports it."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
