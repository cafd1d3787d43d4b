"""The domain, in plain functions that never see the request."""
