"""Connectors read a directory (or a file) and return a Snapshot. They only read.

They import no Django, so the on-premise agent reuses them as they are, and they translate their
libraries' errors into ``usersync.connectors.errors`` at the boundary.
"""
