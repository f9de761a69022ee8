"""Use cases: load state, ask the domain, record the events, let the live hub publish them."""
