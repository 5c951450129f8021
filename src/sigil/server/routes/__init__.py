"""One module per API area; each exports ``ENDPOINTS``, listed once in ``sigil.server.app``."""
