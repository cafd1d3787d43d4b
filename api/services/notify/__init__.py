"""Telling people: the inbox, devices, the outbox, push channels and mail."""
