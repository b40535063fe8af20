"""The office hub: receives the kiosks' sealed bundles and heartbeats, shows the fleet and the
campaign, and hands bundles to the records officer's workstation (docs/office-hub.md).

It imports only the core modules and :mod:`appliance.store.bundle`; nothing in the kiosk imports
it, and its dependencies (the ``hub`` extra) are not on a kiosk image.
"""
