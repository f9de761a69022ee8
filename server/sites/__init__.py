"""How the nodes of several sites work together: the home lease, forwarded commands, replicas
and presence over one Redis (docs/sites.md)."""
