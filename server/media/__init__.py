"""Live audio and video on a node (docs/media.md): sources encoded once and relayed to
viewers (relay.py), the opening's program audio and voice 唱标 (speech.py), checked offers
(offers.py), and the sessions, stages and recordings that join them (hub.py)."""
