"""Flows: everything a write sets in motion beyond its own domain, called explicitly, in order.

One module per trigger: `entries` (a log write), `agreements` (activated, revised, ended),
`memberships` (a care-team membership starting or ending), `profiles`, `clinics` (a provider
placed in a clinic), `checkups` (a completion), `alerts` (rules changed, acknowledgements,
the no_data worker), `erasure` (an account erased) and `days` (the nightly close-out and
rebuilds). Resources and jobs call these instead of the services whose writes have
consequences; `derived` is the shared last step: a patient's panel rows and clinic aggregates
follow their summary. Nothing registers a hook and nothing depends on import order: read a
flow to know what a write does.
"""
