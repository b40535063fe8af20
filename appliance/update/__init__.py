"""Signed A/B system updates: RAUC bundles, the hub's update manifest, rollout, trial boots.

The kiosk side of issue #21 (docs/updates.md): ``appliance update --from FILE.raucb`` installs a
signed bundle into the other root slot, ``--poll`` fetches the hub's signed manifest and does the
same when this device is in the rollout and the kiosk is idle, ``--confirm`` decides at boot
whether a trial slot is kept. Imports only the appliance core modules.
"""
