"""The event store port and its implementations."""
