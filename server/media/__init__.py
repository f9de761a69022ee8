"""The opening's media: what the node itself puts into an opening's audio (speech.py)."""
