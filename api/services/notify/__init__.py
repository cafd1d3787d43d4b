"""Telling people: the inbox, devices and push channels."""
