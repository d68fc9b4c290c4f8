"""Queries about a member, sans-I/O."""
