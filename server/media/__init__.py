"""Live audio and video on a node: published tracks are encoded once and relayed to viewers."""
