"""Pumps the pure sync and query sessions (protocol/) over libp2p streams.

Placeholder until the sync state machines land: sessions are refused.
"""

from __future__ import annotations


def build_index(store):
    """The sync index of everything the store holds (None: sync unavailable)."""
    return None


async def initiate(service, peer):
    return None


async def respond(service, stream):
    await stream.reset()


async def query(service, peer, request):
    return []


async def answer_query(service, stream):
    await stream.reset()
