"""The Nightscout API v1 subset CGM uploaders (xDrip+, Loop, Spike) speak, at their paths.

A protocol adapter: it authenticates uploaders (api.access.uploader_scope), turns Nightscout
bodies and queries into calls of the tracking services, and answers in Nightscout's shapes,
errors included (`{"status", "message", "description"}`, never problem+json).
"""
