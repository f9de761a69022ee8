"""The expert workstation client: keys stay here, signing happens here."""
