"""Webhooks: management (``manage``), where deliveries may connect (``targets``), the delivery worker (``delivery``)."""
