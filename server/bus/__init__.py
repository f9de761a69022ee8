"""The bus port: how committed events reach the live hubs of every node."""
