"""Typed application keys shared by the transport modules."""

from __future__ import annotations

import weakref
from typing import Final

from aiohttp import web

from server.config import Settings
from server.live import LiveHub
from server.media.hub import MediaHub
from server.metrics import Metrics
from server.service.node import Node
from server.transport.admission import Admission

settings_key: Final = web.AppKey("settings", Settings)
node_key: Final = web.AppKey("node", Node)
hub_key: Final = web.AppKey("hub", LiveHub)
media_key: Final = web.AppKey("media", MediaHub)
# The node's Prometheus metrics (server/metrics.py), unless settings.metrics_enabled is off.
metrics_key: Final = web.AppKey("metrics", Metrics)
admission_key: Final = web.AppKey("admission", Admission)
# Open live connections, so that shutdown can close them with 1001.
connections_key: Final = web.AppKey("connections", weakref.WeakSet[object])
