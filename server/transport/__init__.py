"""Thin async shells around the service: HTTP, the live WebSocket, error mapping."""
